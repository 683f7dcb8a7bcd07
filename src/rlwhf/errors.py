"""Errors meant for people: the CLI prints them without a traceback."""


class RlwhfError(Exception):
    """An expected failure. `exit_code` 2 = usage / unreadable input, 1 = findings."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


class MissingDependency(RlwhfError):
    """An optional dependency is absent; the message says how to install it."""

    def __init__(self, package: str, extra: str):
        super().__init__(
            f"{package} is not installed: pip install 'rlwhf[{extra}]' (or pip install -r requirements.txt)"
        )


def require(module: str, extra: str):
    """Import `module` or raise MissingDependency naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependency(module.split(".")[0], extra) from exc
