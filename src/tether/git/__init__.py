"""Git adapter: mirrors, fetch, resolve, read tree, revert, push."""
