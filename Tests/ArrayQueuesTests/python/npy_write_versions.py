# Run by NPYTests (NPYFixtures.runNumpyScript). argv: output directory. Writes DTYPE-vN.npy with format versions 1.0, 2.0 and 3.0.
import sys
import numpy as np
out = sys.argv[1]
for name in ['bool', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64',
             'float16', 'float32', 'float64', 'complex64', 'complex128']:
    a = (np.arange(24, dtype=np.int64).reshape(2, 3, 4) - 7).astype(name)
    for version in (1, 2, 3):
        stem = f'{out}/{name}-v{version}'
        with open(stem + '.npy', 'wb') as f:
            np.lib.format.write_array(f, a, version=(version, 0))
        with open(stem + '.bin', 'wb') as f:
            f.write(a.tobytes())
        with open(stem + '.shape', 'w') as f:
            f.write(' '.join(str(n) for n in a.shape))
