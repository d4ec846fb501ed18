"""Objects that count themselves, for the handle leak test."""


class Tracked:
    live = 0
    created = 0

    def __init__(self):
        Tracked.live += 1
        Tracked.created += 1

    def __del__(self):
        Tracked.live -= 1


def counts():
    return (Tracked.live, Tracked.created)
