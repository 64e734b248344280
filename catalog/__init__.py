"""Base data kept by the center (issue 14): product catalogue and models, the fault taxonomy."""
