"""Accuracy of the dense GPU bench's contenders, computed with the CPU backend (same
algorithms; the GPU draws the same sketch for the same seed), on A = Q1 diag(1/j) Q2^T with
exactly orthonormal Q1 (m x 2048), Q2 (n x 2048): Frobenius and spectral errors and the
top-k singular values' relative errors."""
import sys, time
import numpy as np, rankwise
m, n, r = 32768, 16384, 2048
dtype = np.dtype(sys.argv[1]); ks = [int(x) for x in sys.argv[2].split(",")]
rng = np.random.default_rng(0)
Q1 = np.linalg.qr(rng.standard_normal((m, r), dtype=np.float32).astype(np.float64))[0]
Q2 = np.linalg.qr(rng.standard_normal((n, r), dtype=np.float32).astype(np.float64))[0]
sigma = 1.0 / np.arange(1, r + 1)
A = ((Q1 * sigma) @ Q2.T).astype(dtype)
Q1 = Q1.astype(np.float32); Q2 = Q2.astype(np.float32)
nA = np.linalg.norm(sigma)
def metrics(U, s, Vt, k):
    U = U.astype(np.float64); Vt = Vt.astype(np.float64); s = s.astype(np.float64)
    # ||A - U S Vt||_F^2 = ||A||^2 - 2 sum s_i u_i^T A v_i + ||S||^2 (orthonormal U, V)
    AV = A @ Vt.T.astype(dtype)
    cross = np.einsum("ij,ij->j", U, AV.astype(np.float64))
    fro = np.sqrt(max(nA**2 - 2 * (s * cross).sum() + (s**2).sum(), 0)) / nA
    x = np.random.default_rng(1).standard_normal(n)
    for _ in range(25):  # power iteration on R^T R, R = A - U S Vt
        y = A @ x.astype(dtype) - U @ (s * (Vt @ x)); z = A.T @ y.astype(dtype) - Vt.T @ (s * (U.T @ y))
        lam = np.linalg.norm(z); x = z / lam
    spec = np.sqrt(lam) / sigma[k]
    sv = np.max(np.abs(s - sigma[:k]) / sigma[:k])
    return fro, spec, sv
for k in ks:
    runs = {
        "q=0": dict(n_iter=0), "q=1": dict(n_iter=1), "q=2": dict(n_iter=2),
        "krylov 5 x k": dict(method="block_krylov", n_passes=5, block_size=k),
        "krylov 9 x k/2": dict(method="block_krylov", n_passes=9, block_size=k // 2),
    }
    for name, kw in runs.items():
        t = time.perf_counter()
        U, s, Vt = rankwise.svd(A, k, random_state=0, **({"oversample": 10} if "n_iter" in kw else {}), **kw)
        t = time.perf_counter() - t
        fro, spec, sv = metrics(U, s, Vt, k)
        print(f"{dtype.name} k={k} {name:15s} fro {fro:.6e} spec/sigma_k+1 {spec:.4f} sv max rel {sv:.2e} ({t:.1f} s)", flush=True)
