"""The one exception type for bad user input; the UI shows its message as a `gr.Error`."""


class InputError(ValueError):
    """Input the user can fix; the message says how."""
