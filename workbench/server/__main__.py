from workbench.server.main import main

main()
