"""Local workspaces: endpoints, deployments, registered assets and autoscale settings created by
`az ml`-shaped commands (azlocal), kept as a project folder the engine runs."""
