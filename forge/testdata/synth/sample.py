"""A module the Python mutator's tests mutate."""


def clamp(x, lo, hi):
    """Limit x to [lo, hi]."""
    if x < lo:
        return lo
    if not x <= hi:  # above
        return hi
    return x


class Bag:
    def first(self, items, n):
        self.seen += 1
        return items[n - 1] == 0 and pick(items, n)

    def has(self, k):
        return k in self.keys or k is None
