from rdarts.cli.app import main

__all__ = ["main"]
