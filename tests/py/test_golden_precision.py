#!/usr/bin/env python3
"""scripts/golden_precision.py, the NumPy forward pass behind the exact-arithmetic goldens
(forced_exact in tests/golden/smollm2-q4_1.json) and the precision bisection in docs/engine.md:
  - its exact pass over the first 16 forced tokens reproduces the stored forced_exact rows (the
    pass is causal, so those rows do not depend on the later tokens);
  - the 8-bit activation rounding: d = amax/127, ties to even, s = d * sum(q), f16 scales on request;
  - an 8-bit product equals the exact product of the rounded activations (the block algebra
    d_w*d_x*sum(q_w*q_x) + m_w*s_x);
  - the agreement metrics on the stored peer goldens: 100 % and NMSE 0 against themselves, and a
    changed top-1 reported with the peer's gap."""
import json, os, sys

import numpy as np

from mlxn_testlib import SOURCE, check, finish, abort

sys.path.insert(0, os.path.join(SOURCE, "scripts"))
import golden_precision as gp  # noqa: E402

N_TOKENS = 16

gold = json.load(open(os.path.join(SOURCE, "tests/golden/smollm2-q4_1.json")))
try:
    W = gp.Weights(gp.default_model())
except Exception as e:   # noqa: BLE001 - any failure to get the model is this test's failure
    abort("model: %s" % e)

# ---- exact pass against the stored goldens --------------------------------------------------
ex = gold["forced_exact"]
lg = gp.Forward(W).run(gold["forced"]["ids"][:N_TOKENS])
got = gp.full_ref(lg)
want_ids = np.array(ex["top5_ids"][:N_TOKENS])
want_lg = np.array(ex["top5_logits"][:N_TOKENS])
check((got["top_ids"][:, 0] == want_ids[:, 0]).all(), "exact pass: top-1 of the first %d positions" % N_TOKENS)
err = np.abs(np.take_along_axis(lg.astype(np.float64), want_ids, 1) - want_lg).max()
check(err < 1e-3, "exact pass: stored top-5 logits reproduced within 1e-3 (max error %.3g)" % err)
sd_err = np.abs(got["std"] - np.array(ex["row_std"][:N_TOKENS])).max()
check(sd_err < 1e-3, "exact pass: row std reproduced (max error %.3g)" % sd_err)

# ---- 8-bit activation rounding --------------------------------------------------------------
x = np.zeros((1, 32), np.float32)
x[0, :4] = [127.0, 0.5, 1.5, -2.5]          # amax 127: d = 1, ties go to the even neighbour
d, q, s = gp.quant8(x, f16_scales=False)
check(d[0, 0] == 1.0 and list(q[0, 0, :4]) == [127, 0, 2, -2], "quant8: d and round-half-even %s" % q[0, 0, :4])
check(s[0, 0] == 127.0, "quant8: s = d * sum(q) (%g)" % s[0, 0])
x2 = np.full((1, 32), 0.1234567, np.float32)
d2, _, s2 = gp.quant8(x2, f16_scales=True)
check(d2[0, 0] == float(np.float16(np.float32(0.1234567) / np.float32(127))) and s2[0, 0] == float(np.float16(s2[0, 0])),
      "quant8: f16 scales (%r, %r)" % (d2[0, 0], s2[0, 0]))

# ---- an 8-bit product is the exact product of the rounded activations -------------------------
rng = np.random.default_rng(7)
xr = rng.standard_normal((3, 576)).astype(np.float32)
dx, qx, _ = gp.quant8(xr, f16_scales=False)
xq = (qx * dx[:, :, None]).reshape(3, 576).astype(np.float32)
fq = gp.Forward(W, act="q8").matmul("blk.0.attn_k.weight", xr)
fe = gp.Forward(W).matmul("blk.0.attn_k.weight", xq)
rel = np.abs(fq - fe).max() / np.abs(fe).max()
check(rel < 1e-5, "q8 product equals the exact product of the rounded activations (rel %.3g)" % rel)

# ---- metrics --------------------------------------------------------------------------------
ref = gp.golden_ref()
n, V = len(gold["forced"]["ids"]), 49152
fake = np.zeros((n, V), np.float32)
for i, (ids, lgs) in enumerate(zip(ref["top_ids"], ref["top_logits"])):
    fake[i] = lgs[-1] - 10
    fake[i, ids] = lgs
agree, nmse5, _, dis = gp.metrics(fake, ref)
check(agree.all() and nmse5 < 1e-12 and not dis, "metrics: the goldens against themselves")
j = 5
fake[j, ref["top_ids"][j, 1]] = ref["top_logits"][j, 0] + 1
agree, _, _, dis = gp.metrics(fake, ref)
gap = ref["top_logits"][j, 0] - ref["top_logits"][j, 1]
check(agree.sum() == n - 1 and len(dis) == 1 and dis[0][0] == j and abs(dis[0][1] - gap) < 1e-9,
      "metrics: one changed top-1 reported with the peer's gap: %s" % dis)

finish()
