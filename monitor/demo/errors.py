"""Why the demo stops with an error (exit status 1, or 2 before anything started)."""


class DemoError(RuntimeError):
    """The demo cannot start or go on; the message says why."""


class MissingTool(DemoError):
    """A program the options ask for is not installed."""
