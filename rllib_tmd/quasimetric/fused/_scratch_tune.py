# scratch tuning script (to be deleted)
import os
import sys
import types

stub = types.ModuleType("rllib_tmd")
stub.__path__ = [os.path.abspath("rllib_tmd")]
sys.modules["rllib_tmd"] = stub

import torch  # noqa: E402
from triton.testing import do_bench  # noqa: E402

from rllib_tmd.quasimetric.fused import mrn_triton as mt  # noqa: E402

E, D, K = 2, 512, 8
W = D // K


def t(fn):
    return do_bench(fn, warmup=5, rep=30, return_mode="median") * 1e3


def main():
    fwd_cfgs = [(128, 64, 4), (64, 64, 4), (64, 128, 4), (128, 128, 8), (64, 64, 2)]
    bwd_cfgs = [(32, 64, 2), (16, 64, 1), (32, 128, 4), (64, 64, 4), (32, 32, 1), (16, 128, 2), (64, 128, 2)]
    for B in (512, 2048, 8192):
        xt = torch.randn(E, K, W, B, device="cuda")
        yt = torch.randn(E, K, W, B, device="cuda")
        g = torch.randn(E, B, B, device="cuda")
        for hm in (W // 2, W):
            for bb, bc, nw in fwd_cfgs:
                cfg = mt.MRNKernelConfig(block_b=bb, block_c=bc, num_warps=nw)
                f0 = t(lambda: mt.mrn_forward(xt, yt, 1e-6, hm, False, cfg))
                f1 = t(lambda: mt.mrn_forward(xt, yt, 1e-6, hm, True, cfg))
                print(f"B={B} HM={hm} fwd {bb}x{bc}x{nw}: nograd {f0:8.1f} us  save {f1:8.1f} us", flush=True)
            _, arg, arg_t = mt.mrn_forward(xt, yt, 1e-6, hm, True, mt.DEFAULT_CONFIG)
            gt = g.transpose(1, 2).contiguous()
            for bo, bw, nw in bwd_cfgs:
                cfg = mt.MRNKernelConfig(bwd_block_other=bo, bwd_block_own=bw, bwd_num_warps=nw)
                try:
                    tx = t(lambda: mt.mrn_backward_side(xt, yt, gt, arg_t, 1e-6, hm, 1.0, cfg))
                    ty = t(lambda: mt.mrn_backward_side(yt, xt, g, arg, 1e-6, hm, -1.0, cfg))
                    print(f"B={B} HM={hm} bwd {bo}x{bw}x{nw}: dx {tx:8.1f} us  dy {ty:8.1f} us", flush=True)
                except Exception as exc:
                    print(f"B={B} bwd {bo}x{bw}x{nw} failed {str(exc)[:150]}", flush=True)


main()
