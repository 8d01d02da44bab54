"""One HTTP exchange with the Segment Tracking API, sans I/O: the request and reply model, routes,
headers, bodies, limits, and :func:`debugger.core.http.wire.handle`, which the server and paste share."""
