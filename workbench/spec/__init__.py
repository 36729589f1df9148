"""The spec layer: Azure ML YAML in, frozen typed objects and located problems out.

Pure: it reads files and nothing else (no sockets, no processes, no docker).
"""

from workbench.spec.problems import Location, Problem, Problems, Severity
from workbench.spec.project import Endpoint, Project, load_project

__all__ = [
    "Endpoint",
    "Location",
    "Problem",
    "Problems",
    "Project",
    "Severity",
    "load_project",
]
