"""The timing rule the peer benchmark scripts share: one untimed call, then the median of
`reps` timed calls, in milliseconds."""
import statistics
import time


def median_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)
