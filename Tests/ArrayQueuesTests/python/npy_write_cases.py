# Run by NPYTests (NPYFixtures.runNumpyScript). argv: dtype name, output directory. Writes N.npy, N.bin (tobytes) and N.shape; prints N.
import sys
import numpy as np
name, out = sys.argv[1], sys.argv[2]
dt = np.dtype(name)
if dt.kind == 'b':
    base = np.array([[True, False, True], [False, False, True]])
elif dt.kind in 'iu':
    i = np.iinfo(dt)
    base = np.array([[i.min, i.max, 0], [1, i.max - 1, i.min + 1], [i.max // 2, -1 if dt.kind == 'i' else 200, 42]], dtype=dt)
elif dt.kind == 'f':
    f = np.finfo(dt)
    base = np.array([[np.nan, np.inf, -np.inf], [-0.0, f.tiny, f.max], [f.min, f.eps, -1.5], [-np.nan, 1e-3, 65504 if dt.itemsize == 2 else 1e30]], dtype=dt)
else:
    f = np.finfo(dt)
    base = np.array([[complex(np.nan, 1), complex(np.inf, -np.inf)], [complex(-0.0, 2.5), complex(f.max, f.tiny)], [complex(-1, -np.nan), complex(f.min, -f.eps)]], dtype=dt)
rng = np.random.default_rng(7)
if dt.kind == 'b':
    noise = rng.integers(0, 2, size=1000).astype(dt)
else:
    noise = rng.integers(0, 256, size=16 * 250, dtype=np.uint8).view(dt)
cases = [
    base,
    np.array(base.flat[1], dtype=dt),
    np.zeros((0, 3), dtype=dt),
    np.zeros((4, 0, 2), dtype=dt),
    base.reshape(-1),
    np.ascontiguousarray(base.T),
    np.resize(base, (2, 3, 4, 5)),
    noise,
    np.resize(base, (1,) * 32),
]
for index, a in enumerate(cases):
    assert a.dtype == dt and a.flags.c_contiguous
    np.save(f'{out}/{index}.npy', a)
    with open(f'{out}/{index}.bin', 'wb') as f:
        f.write(a.tobytes())
    with open(f'{out}/{index}.shape', 'w') as f:
        f.write(' '.join(str(n) for n in a.shape))
print(len(cases))
