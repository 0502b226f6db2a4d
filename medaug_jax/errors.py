"""The one exception type users see as a one-line message."""


class MedaugError(Exception):
  """Bad input or an unrecoverable run state; main prints it as one line."""
