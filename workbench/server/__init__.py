"""The inference server that runs inside every instance: `python -m workbench.server`.

It reproduces the contract of Azure's `azmlinfsrv` (azureml-inference-server-http) for scoring
scripts, on aiohttp, and adds in-place reload and a debugger switch. It imports nothing else of
the workbench, only the standard library and aiohttp (debugpy, werkzeug, inference-schema when
the user's environment has them), because it runs inside the user's own environment.
"""
