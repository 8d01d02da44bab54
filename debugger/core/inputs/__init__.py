"""What people bring to segdbg besides HTTP: pasted text, library calls, and files for `segdbg send`."""
