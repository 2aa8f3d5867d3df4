# Run by NPYTests (NPYFixtures.runNumpyScript). argv: directory, count. Loads N.npy and checks it against N.bin and N.meta.
import io, sys
import numpy as np
out, count = sys.argv[1], int(sys.argv[2])
for index in range(count):
    path = f'{out}/{index}.npy'
    a = np.load(path)
    typestr, shape = open(f'{out}/{index}.meta').read().split('\n')
    shape = tuple(int(n) for n in shape.split())
    assert a.dtype == np.dtype(typestr), (index, a.dtype, typestr)
    assert a.shape == shape, (index, a.shape, shape)
    assert a.flags.c_contiguous, index
    assert a.tobytes() == open(f'{out}/{index}.bin', 'rb').read(), (index, 'data differs')
    saved = io.BytesIO()
    np.save(saved, a)
    assert saved.getvalue() == open(path, 'rb').read(), (index, 'np.save writes other bytes')
print('ok', count)
