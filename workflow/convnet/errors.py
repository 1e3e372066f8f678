"""Errors meant for the user: one line that names the file or config key and the fix."""


class ConvnetError(Exception):
    """A problem with the user's input or environment, reported as one line without traceback."""


class ConfigError(ConvnetError):
    """The config asks for something impossible or inconsistent."""


class DataError(ConvnetError):
    """The data (archive, folder, download) cannot be used as it is."""
