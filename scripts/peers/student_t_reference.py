"""Reference values of Student's t for gshn-train/src/cli/stats.rs's tests: two-sided p-values
I_{df/(df+t^2)}(df/2, 1/2) and 0.975 quantiles, with mpmath at 40 digits (pip install mpmath).
Prints the Rust constants P_REF and Q975_REF."""
import mpmath as mp

mp.mp.dps = 40
rows = []
for df in [1, 2, 3, 5, 10, 29, 31, 100, 1000]:
    for t in [0.0, 0.5, 1.0, 1.96, 2.5, 4.0, 10.0, -2.0]:
        v = mp.mpf(df)
        x = v / (v + mp.mpf(t) ** 2)
        rows.append((t, df, float(mp.betainc(v / 2, mp.mpf(1) / 2, 0, x, regularized=True))))
qs = []
for df in [1, 2, 3, 4, 5, 10, 20, 30, 31, 45, 60, 61, 120, 121, 1000]:
    f = lambda q: mp.betainc(mp.mpf(df) / 2, mp.mpf(1) / 2, 0, mp.mpf(df) / (df + q * q), regularized=True) - mp.mpf("0.05")
    qs.append((df, float(mp.findroot(f, 2.0 if df > 2 else 5.0))))
print("const P_REF: [(f64, usize, f64); %d] = [" % len(rows))
for t, df, p in rows:
    print(f"    ({float(t)!r}, {df}, {p!r}),")
print("];")
print("const Q975_REF: [(usize, f64); %d] = [" % len(qs))
for df, q in qs:
    print(f"    ({df}, {q!r}),")
print("];")
