"""Events for people: list labels, inert text, the call as its library would have written it, exports."""
