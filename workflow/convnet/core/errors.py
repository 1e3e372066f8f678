"""Errors meant for the user: one line that names the file or config key and the fix."""


class ConvnetError(Exception):
    """A problem with the user's input or environment, reported as one line without traceback."""


class ConfigError(ConvnetError):
    """The config asks for something impossible or inconsistent."""


class DataError(ConvnetError):
    """The data (archive, folder, download) cannot be used as it is."""


class DiskFullError(ConvnetError):
    """A folder's disk (or the user's quota on it) has no room left for what a step writes."""

    def __init__(self, folder):
        super().__init__(
            f"{folder}: no space left on its disk (or quota): free space there (`df -h {folder}` "
            "shows what is left) and run the same command again; finished steps are kept and "
            "nothing half-written is left under a real name"
        )
