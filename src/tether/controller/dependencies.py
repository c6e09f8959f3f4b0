"""Who waits for whom among the apps (`dependsOn`): a status change of an app queues its
dependents only. Kept as the apps' events arrive (a scan of every app per event made a
fleet's first pass quadratic)."""

from __future__ import annotations

from collections.abc import Iterable

AppKey = tuple[str, str]  # (namespace, name)


class DependencyIndex:
    def __init__(self) -> None:
        self._depends_on: dict[AppKey, set[AppKey]] = {}  # app -> the apps it depends on
        self._dependents: dict[AppKey, set[AppKey]] = {}  # app -> the apps depending on it

    def depend(self, key: AppKey, dependencies: Iterable[AppKey]) -> None:
        """`key` now depends on exactly `dependencies` (none: forget it)."""
        wanted = set(dependencies)
        for old in self._depends_on.get(key, set()) - wanted:
            dependents = self._dependents.get(old)
            if dependents is not None:
                dependents.discard(key)
                if not dependents:
                    del self._dependents[old]
        for dep in wanted:
            self._dependents.setdefault(dep, set()).add(key)
        if wanted:
            self._depends_on[key] = wanted
        else:
            self._depends_on.pop(key, None)

    def dependents(self, key: AppKey) -> set[AppKey]:
        return set(self._dependents.get(key, ()))


__all__ = ["DependencyIndex"]
