"""qsim_status as Python exceptions: QsimError and one subclass per status."""
from ._native import ffi, lib


class QsimError(Exception):
    """A qsim call failed. `status` is the qsim_status number, `status_name` its C name
    ("QSIM_ERR_PARSE"), `message` what qsim said (naming the file, tensor or op at fault)."""

    def __init__(self, status, status_name, message):
        super().__init__(f"{status_name}: {message}" if message else status_name)
        self.status = status
        self.status_name = status_name
        self.message = message


class QsimInvalidArgument(QsimError):
    pass


class QsimIOError(QsimError):
    pass


class QsimParseError(QsimError):
    pass


class QsimUnsupported(QsimError):
    pass


class QsimShapeError(QsimError):
    pass


class QsimStateError(QsimError):
    pass


class QsimCancelled(QsimError):
    """A progress callback returned a true value."""


class QsimOutOfMemory(QsimError):
    pass


class QsimBufferTooSmall(QsimError):
    pass


class QsimNumericError(QsimError):
    pass


class QsimInternalError(QsimError):
    pass


class QsimCallbackError(QsimError):
    """A callback reported failure without a Python exception behind it, e.g. a DataSource
    whose file went bad (a Python callback's exception is raised as itself instead)."""


class QsimIncomplete(QsimError):
    """Some outputs were written and others skipped (Session.export): the message names each
    skipped file and why; `written` is the set of format names that were written."""

    written = frozenset()


_CLASSES = {
    "QSIM_ERR_INVALID_ARGUMENT": QsimInvalidArgument,
    "QSIM_ERR_IO": QsimIOError,
    "QSIM_ERR_PARSE": QsimParseError,
    "QSIM_ERR_UNSUPPORTED": QsimUnsupported,
    "QSIM_ERR_SHAPE": QsimShapeError,
    "QSIM_ERR_STATE": QsimStateError,
    "QSIM_ERR_CANCELLED": QsimCancelled,
    "QSIM_ERR_OUT_OF_MEMORY": QsimOutOfMemory,
    "QSIM_ERR_BUFFER_TOO_SMALL": QsimBufferTooSmall,
    "QSIM_ERR_NUMERIC": QsimNumericError,
    "QSIM_ERR_INTERNAL": QsimInternalError,
    "QSIM_ERR_CALLBACK": QsimCallbackError,
    "QSIM_ERR_INCOMPLETE": QsimIncomplete,
}


def _error(status, message_ptr):
    status = int(status)
    name = ffi.string(lib().qsim_status_name(status)).decode()
    message = ffi.string(message_ptr).decode(errors="replace")
    return _CLASSES.get(name, QsimError)(status, name, message)


def check(status):
    """For calls without a session: the message is the calling thread's qsim_last_error(),
    read right after the call on the same thread (a Python thread stays on its OS thread)."""
    if status != lib().QSIM_OK:
        raise _error(status, lib().qsim_last_error())


def check_session(status, session_ptr):
    """For calls on a session: the message is the session's own."""
    if status != lib().QSIM_OK:
        raise _error(status, lib().qsim_session_last_error(session_ptr))
