"""What Session and DataSource share: a qsim handle owned by a Python object."""
from ._native import ffi


class NativeHandle:
    """Owns a qsim handle: close() or `with` frees it, as does garbage collection. Subclasses
    set self._lock and name a reason when the handle must not be freed now."""

    _kind = "handle"  # the subclass's name in messages

    def _own(self, pointer, destroy):
        self._pointer = ffi.gc(pointer, destroy)

    def _close_refusal(self):
        """Why close() must refuse now (a running call reads the handle), or None."""
        return None

    def close(self):
        """Frees the handle; later calls raise ValueError. Closing twice is allowed."""
        with self._lock:
            refusal = self._close_refusal()
            if refusal is not None:
                raise RuntimeError(refusal)
            if self._pointer is not None:
                ffi.release(self._pointer)
                self._pointer = None

    @property
    def closed(self):
        return self._pointer is None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _handle(self):
        if self._pointer is None:
            raise ValueError(f"the {self._kind} is closed")
        return self._pointer
