#!/usr/bin/env python3
"""PostShare post-training as a PyTorch data-parallel job (exported by `headshare postshare-job`).

    python3 train.py job.json [--model PATH] [--out DIR] [--local-ranks N] [--no-zero | --fsdp] [--resume] ...
    torchrun --nproc_per_node=8 train.py job.json ...          (see launch.sh)

The job folder holds job.json (plan, weight-loss pairs, forward description, hyperparameters),
tokens.bin (uint32 token stream), order.bin (int32 window starts, B per micro-batch). This file
computes exactly what headshare's ONNX trainer computes (src/core/train/{trainGraph,trainer,optimizer}.ts):

    loss = λ_lm · mean_tokens NLL + λ_w · (1/N) · Σ_pairs ‖W[target slice] − W[root slice]‖_F   (sqrt(Σd² + ε))
    AdamW (decoupled decay on matrices), linear warm-up then cosine to lr·minLrRatio,
    global gradient-norm clipping, gradient accumulation.

Data parallel: micro-batch k is order[k·B:(k+1)·B]; rank r of R takes rows [r·B/R, (r+1)·B/R), so
any world size trains on the same batches. DDP averages gradients; ZeRO-1 (default) shards the AdamW
state with torch.distributed.optim.ZeroRedundancyOptimizer; --fsdp uses FullyShardedDataParallel
(PyTorch >= 2). gloo on CPU, nccl + bf16 autocast on CUDA. Only PyTorch is required;
`safetensors` is used for loading when importable.

Writes under --out (default <job>/run): metrics.jsonl (rank 0, one JSON object per step: step, lm,
weight, loss, lr, gradNorm, seconds), checkpoints/ (resumable), model.safetensors (final weights,
every tensor in its stored dtype, staged and renamed).
"""
import argparse
import contextlib
import hashlib
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

JOB_FORMAT = "headshare.postshare-job"
JOB_VERSION = 1
TRAINED_METADATA_KEY = "headshare.postshare-job"

ST_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
ST_NAMES = {v: k for k, v in ST_DTYPES.items()}


class JobError(Exception):
    """Bad input: the message names the file, what is wrong and what to do."""


def log(msg):
    print(f"[train.py rank {os.environ.get('RANK', '0')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- safetensors

def read_safetensors_header(path):
    """(header dict without __metadata__, metadata dict, byte offset of the data region)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            if n > size - 8:
                raise JobError(f"{path}: the header length {n} runs past the end of the file ({size} bytes); the file is truncated")
            header = json.loads(f.read(n))
    except (OSError, struct.error, ValueError) as e:
        raise JobError(f"{path}: not a readable safetensors file ({e})")
    meta = header.pop("__metadata__", {}) or {}
    end = max((v["data_offsets"][1] for v in header.values()), default=0)
    if 8 + n + end > size:
        raise JobError(f"{path}: the tensors need {8 + n + end} bytes, the file has {size}; it is truncated (copy it again)")
    return header, meta, 8 + n


def load_safetensors(path, names=None):
    """name -> tensor (CPU, stored dtype). Uses the `safetensors` package when importable."""
    header, _, start = read_safetensors_header(path)
    wanted = [k for k in header if names is None or k in names]
    try:
        from safetensors.torch import load_file  # optional
        loaded = load_file(path)
        return {k: loaded[k] for k in wanted}
    except ImportError:
        pass
    out = {}
    with open(path, "rb") as f:
        for k in wanted:
            info = header[k]
            if info["dtype"] not in ST_DTYPES:
                raise JobError(f"{path}: tensor {k} has dtype {info['dtype']}, which train.py cannot read")
            b, e = info["data_offsets"]
            f.seek(start + b)
            buf = bytearray(f.read(e - b))
            t = torch.frombuffer(buf, dtype=ST_DTYPES[info["dtype"]]) if e > b else torch.empty(0, dtype=ST_DTYPES[info["dtype"]])
            out[k] = t.reshape(info["shape"])
    return out


def write_safetensors(path, tensors, metadata):
    """Writes {name: tensor} (in order) with string metadata; staged to a temporary name, then renamed."""
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for k, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[k] = {"dtype": ST_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = os.path.join(os.path.dirname(path), f".headshare-tmp-{os.path.basename(path)}-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def model_weight_files(model):
    """The safetensors file(s) of a model folder (model.safetensors or a sharded index) or a .safetensors file."""
    if os.path.isfile(model):
        return [model]
    single = os.path.join(model, "model.safetensors")
    if os.path.isfile(single):
        return [single]
    index = os.path.join(model, "model.safetensors.index.json")
    if os.path.isfile(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        return [os.path.join(model, s) for s in shards]
    raise JobError(f"{model}: no model.safetensors or model.safetensors.index.json there; pass --model with the model's folder on this machine")


def load_model_tensors(model, job):
    tensors = {}
    for path in model_weight_files(model):
        tensors.update(load_safetensors(path))
    want = job["tensors"]
    for name, (dtype, shape) in want.items():
        t = tensors.get(name)
        if t is None:
            raise JobError(f"{model}: tensor {name} is missing; this is not the model the job was exported from (pass --model with that model)")
        if ST_NAMES[t.dtype] != dtype or list(t.shape) != list(shape):
            raise JobError(f"{model}: tensor {name} is {ST_NAMES[t.dtype]} {list(t.shape)}, the job expects {dtype} {list(shape)}; this is not the model the job was exported from")
    return {k: tensors[k] for k in want}


# ----------------------------------------------------------------------------- the job

def read_job(path):
    try:
        with open(path) as f:
            job = json.load(f)
    except (OSError, ValueError) as e:
        raise JobError(f"{path}: cannot read the job file ({e}); give job.json of a folder written by headshare postshare-job")
    if job.get("format") != JOB_FORMAT or job.get("version") != JOB_VERSION:
        raise JobError(f"{path}: not a version-{JOB_VERSION} PostShare job (format {job.get('format')!r}, version {job.get('version')!r})")
    return job


def read_u32(path, count, sha):
    try:
        with open(path, "rb") as f:
            buf = bytearray(f.read())
    except OSError as e:
        raise JobError(f"{path}: cannot read it ({e}); the job folder is incomplete")
    if len(buf) != 4 * count:
        raise JobError(f"{path}: {len(buf)} bytes, job.json says {count} values ({4 * count} bytes); it is truncated or from another job")
    if sha and hashlib.sha256(buf).hexdigest() != sha:
        raise JobError(f"{path}: its sha256 does not match job.json; it changed after export, export the job again")
    return torch.frombuffer(buf, dtype=torch.int32).to(torch.int64)


def learning_rate(o, step, total):
    """src/core/train/optimizer.ts learningRate (step 0-based)."""
    if step < o["warmupSteps"]:
        return o["lr"] * (step + 1) / o["warmupSteps"]
    span = max(1, total - o["warmupSteps"] - 1)
    t = min(1.0, (step - o["warmupSteps"]) / span)
    floor = o["lr"] * o["minLrRatio"]
    return floor + (o["lr"] - floor) * 0.5 * (1 + math.cos(math.pi * t))


# ----------------------------------------------------------------------------- the model

def rms_norm(x, w, eps):
    x = x.float()
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def layer_norm(x, w, b, eps):
    return F.layer_norm(x.float(), (x.shape[-1],), w, b, eps)


def rope(x, cos, sin, rot):
    """Rotate-half RoPE over the first `rot` dims of each head; x [b, S, h, dh], cos/sin [S, 1, rot]."""
    xr, rest = x[..., :rot], x[..., rot:]
    half = rot // 2
    rotated = torch.cat((-xr[..., half:], xr[..., :half]), dim=-1)
    y = xr * cos + rotated * sin
    return y if rest.shape[-1] == 0 else torch.cat((y, rest), dim=-1)


class PostShareModel(torch.nn.Module):
    """The family's forward on the checkpoint's own tensors, returning (LM loss, weight loss)."""

    def __init__(self, job, tensors, device, grad_checkpoint=False, keep_stored_dtype=False):
        super().__init__()
        self.f = job["forward"]
        self.loss_cfg = job["loss"]
        self.targets = job["plan"]["targets"]
        self.grad_checkpoint = grad_checkpoint
        trainable = set(job["trainable"])
        self.names = list(tensors)
        # Trained tensors are float32 Parameters (DDP/ZeRO/FSDP see only these); frozen ones are plain
        # tensors on the device, loaded identically by every rank, never broadcast (gloo has no bf16),
        # in their stored dtype under bf16 autocast (less memory), else float32.
        self.trainable_names = [n for n in self.names if n in trainable]
        self.tindex = {n: i for i, n in enumerate(self.trainable_names)}
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(tensors[n].to(device=device, dtype=torch.float32).clone()) for n in self.trainable_names])
        self.frozen = {}
        for n in self.names:
            if n not in trainable:
                t = tensors[n]
                dtype = t.dtype if keep_stored_dtype or not t.is_floating_point() else torch.float32
                self.frozen[n] = t.to(device=device, dtype=dtype).clone()
        self.stored_dtype = {n: tensors[n].dtype for n in self.names}
        # Weight-loss slices: index tensors along each SliceRef's axis.
        def ref(r):
            idx = torch.cat([torch.arange(b, e) for b, e in r["ranges"]]).to(device)
            return (r["tensor"], r["axis"], idx)
        self.pairs = [(ref(p["target"]), ref(p["root"])) for p in job["plan"]["pairs"]]
        inv = self.f.get("invFreq")
        self.register_buffer("inv_freq", torch.tensor(inv, dtype=torch.float32, device=device) if inv else torch.zeros(0, device=device), persistent=False)

    def w(self, name):
        i = self.tindex.get(name)
        return self.weights[i] if i is not None else self.frozen[name]

    def rope_tables(self, S, device):
        pos = torch.arange(S, device=device, dtype=torch.float32)
        freqs = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)[:, None, :]          # [S, 1, rot]
        return emb.cos(), emb.sin()

    def attention(self, q, k, v, l, tables, rot):
        f = self.f
        b, S = q.shape[0], q.shape[1]
        H, Hkv, dh = f["heads"], f["kvHeads"], f["headDim"]
        q, k, v = q.reshape(b, S, H, dh), k.reshape(b, S, Hkv, dh), v.reshape(b, S, Hkv, dh)
        if tables is not None:
            q, k = rope(q, tables[0], tables[1], rot), rope(k, tables[0], tables[1], rot)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)   # [b, h, S, dh]
        if Hkv != H:   # query head h reads kv head h // (H / Hkv)
            k, v = k.repeat_interleave(H // Hkv, dim=1), v.repeat_interleave(H // Hkv, dim=1)
        scale = f["attnScale"][l]
        if hasattr(F, "scaled_dot_product_attention") and q.is_cuda:
            out = F.scaled_dot_product_attention(q * (scale * math.sqrt(dh)), k, v, is_causal=True)
        else:
            scores = torch.matmul(q * scale, k.transpose(-1, -2))
            mask = torch.full((S, S), -1e9, device=q.device, dtype=scores.dtype).triu(1)
            probs = torch.softmax((scores + mask).float(), dim=-1).to(v.dtype)
            out = torch.matmul(probs, v)
        return out.transpose(1, 2).reshape(b, S, H * dh)

    def layer(self, x, l, tables):
        f, n = self.f, self.f["layerNames"][l]
        w = lambda role: self.w(n[role]) if role in n else None
        eps = f["normEps"]
        if f["family"] == "llama":
            h = rms_norm(x, w("inputNorm"), eps)
            q, k, v = F.linear(h, w("q"), w("qBias")), F.linear(h, w("k"), w("kBias")), F.linear(h, w("v"), w("vBias"))
            o = F.linear(self.attention(q, k, v, l, tables, f["headDim"]), w("o"), w("oBias"))
            r1 = x + o
            h2 = rms_norm(r1, w("postNorm"), eps)
            g = F.linear(h2, w("gate"), w("gateBias"))
            return r1 + F.linear(g * torch.sigmoid(g) * F.linear(h2, w("up"), w("upBias")), w("down"), w("downBias"))
        gelu = (lambda t: F.gelu(t, approximate="tanh")) if f.get("act") == "tanh" else F.gelu
        if f["family"] == "gpt2":   # Conv1D weights are [in, out]
            d = f["hidden"]
            conv = lambda t, wt, bias: torch.matmul(t, wt) + bias if bias is not None else torch.matmul(t, wt)
            h = layer_norm(x, w("ln1"), w("ln1Bias"), eps)
            qkv = conv(h, w("cAttn"), w("cAttnBias"))
            o = conv(self.attention(qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:], l, None, 0), w("cProj"), w("cProjBias"))
            r1 = x + o
            h2 = layer_norm(r1, w("ln2"), w("ln2Bias"), eps)
            return r1 + conv(gelu(conv(h2, w("fc"), w("fcBias"))), w("mlpProj"), w("mlpProjBias"))
        # gpt-neox: query_key_value rows interleaved per head as [H, 3, dh]; parallel or sequential residual
        H, dh = f["heads"], f["headDim"]
        h = layer_norm(x, w("ln1"), w("ln1b"), eps)
        qkv = F.linear(h, w("qkv"), w("qkvb")).reshape(x.shape[0], x.shape[1], H, 3, dh)
        part = lambda i: qkv[..., i, :].reshape(x.shape[0], x.shape[1], H * dh)
        o = F.linear(self.attention(part(0), part(1), part(2), l, tables, f["rotaryDims"]), w("dense"), w("denseb"))
        mlp = lambda y: F.linear(gelu(F.linear(layer_norm(y, w("ln2"), w("ln2b"), eps), w("fc"), w("fcb"))), w("proj"), w("projb"))
        if f.get("parallelResidual", True):
            return x + (o + mlp(x))
        r1 = x + o
        return r1 + mlp(r1)

    def weight_loss(self):
        if not self.pairs or self.targets == 0:
            return torch.zeros((), device=self.inv_freq.device)
        terms = []
        mse = self.loss_cfg["weightLoss"] == "mse"
        for (ti, ta, tx), (ri, ra, rx) in self.pairs:
            d = self.w(ti).float().index_select(ta, tx) - self.w(ri).float().index_select(ra, rx)
            terms.append((d * d).mean() if mse else torch.sqrt((d * d).sum() + self.loss_cfg["sqrtEps"]))
        return torch.stack(terms).sum() / self.targets

    def forward(self, input_ids, targets):
        f, g = self.f, self.f["globals"]
        S = input_ids.shape[1]
        x = F.embedding(input_ids, self.w(g["embed"]))
        if f["family"] == "gpt2":
            x = x + self.w(g["positions"])[:S]
        x = x.float()   # the residual stream stays float32 (bf16 frozen embeddings, autocast or not)
        tables = self.rope_tables(S, input_ids.device) if f["family"] in ("llama", "gpt-neox") else None
        for l in range(f["layers"]):
            if self.grad_checkpoint and self.training:
                from torch.utils.checkpoint import checkpoint
                x = checkpoint(self.layer, x, l, tables, use_reentrant=False)
            else:
                x = self.layer(x, l, tables)
        if f["family"] == "llama":
            xf = rms_norm(x, self.w(g["finalNorm"]), f["normEps"])
        else:
            xf = layer_norm(x, self.w(g["finalNorm"]), self.w(g["finalNormBias"]), f["normEps"])
        logits = F.linear(xf, self.w(g["lmHead"]))
        logp = torch.log_softmax(logits.float(), dim=-1)
        nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)      # [b, S]
        return nll.mean(), self.weight_loss()


# ----------------------------------------------------------------------------- launcher

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_local(n, argv):
    """Starts n ranks of this script on this machine (env:// rendezvous on 127.0.0.1, a free port)."""
    port = free_port()
    args = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--local-ranks":
            skip = True
            continue
        if a.startswith("--local-ranks="):
            continue
        args.append(a)
    threads = max(1, (os.cpu_count() or 1) // n)
    procs = []
    for r in range(n):
        env = dict(os.environ, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(n), LOCAL_WORLD_SIZE=str(n),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        env.setdefault("OMP_NUM_THREADS", str(threads))
        procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__)] + args, env=env))
    code = 0
    try:
        while procs:
            for p in list(procs):
                rc = p.poll()
                if rc is None:
                    continue
                procs.remove(p)
                if rc != 0 and code == 0:
                    code = rc
                    for q in procs:
                        q.send_signal(signal.SIGTERM)
            time.sleep(0.05)
    except KeyboardInterrupt:
        for q in procs:
            q.send_signal(signal.SIGTERM)
        code = 130
    return code


# ----------------------------------------------------------------------------- training

def parse_args(argv):
    p = argparse.ArgumentParser(description="PostShare post-training (a headshare postshare-job).")
    p.add_argument("job", help="job.json of the job folder")
    p.add_argument("--model", help="the model folder on this machine (default: the path in job.json)")
    p.add_argument("--out", help="where the run writes (default: <job folder>/run)")
    p.add_argument("--local-ranks", type=int, default=0, help="start N ranks on this machine (no torchrun needed)")
    p.add_argument("--no-zero", action="store_true", help="plain DDP: every rank holds the whole AdamW state")
    p.add_argument("--fsdp", action="store_true", help="FullyShardedDataParallel instead of DDP + ZeRO-1 (PyTorch >= 2)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--dtype", choices=["auto", "fp32", "bf16"], default="auto", help="bf16 autocast (default on CUDA) or fp32")
    p.add_argument("--steps", type=int, help="stop after this many steps (default: the job's; the schedule stays the job's)")
    p.add_argument("--checkpoint-every", type=int, default=0, help="save a resumable checkpoint every N steps (and at the end)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint under <out>/checkpoints")
    p.add_argument("--grad-checkpoint", action="store_true", help="recompute each layer in backward (less activation memory)")
    p.add_argument("--threads", type=int, help="intra-op CPU threads per rank")
    return p.parse_args(argv)


def save_checkpoint(out, step, model, opt, args, world, rank):
    ckdir = os.path.join(out, "checkpoints", f"step-{step:07d}")
    os.makedirs(ckdir, exist_ok=True)
    def atomic_save(obj, path):
        tmp = f"{path}.tmp-{os.getpid()}"
        torch.save(obj, tmp)
        os.replace(tmp, path)
    zero = not args.no_zero and not args.fsdp
    if rank == 0:
        atomic_save({n: p.detach().cpu() for n, p in zip(model.trainable_names, model.weights)}, os.path.join(ckdir, "params.pt"))
    if zero:
        atomic_save(opt.optim.state_dict(), os.path.join(ckdir, f"optim-rank{rank}.pt"))
    elif rank == 0:
        atomic_save(opt.state_dict(), os.path.join(ckdir, "optim.pt"))
    dist.barrier()
    if rank == 0:
        meta = os.path.join(ckdir, "meta.json")
        with open(meta + ".tmp", "w") as f:
            json.dump({"step": step, "worldSize": world, "zero": zero}, f)
        os.replace(meta + ".tmp", meta)
        latest = os.path.join(out, "checkpoints", "latest")
        with open(latest + ".tmp", "w") as f:
            f.write(os.path.basename(ckdir))
        os.replace(latest + ".tmp", latest)
    dist.barrier()


def load_checkpoint(out, model, opt, args, world, rank, device):
    base = os.path.join(out, "checkpoints")
    try:
        with open(os.path.join(base, "latest")) as f:
            ckdir = os.path.join(base, f.read().strip())
        with open(os.path.join(ckdir, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        raise JobError(f"{base}: no usable checkpoint to resume ({e}); run without --resume")
    zero = not args.no_zero and not args.fsdp
    if meta["zero"] != zero or (zero and meta["worldSize"] != world):
        raise JobError(f"{ckdir}: written by {meta['worldSize']} ranks {'with' if meta['zero'] else 'without'} ZeRO; resume with the same world size and optimizer")
    params = torch.load(os.path.join(ckdir, "params.pt"), map_location="cpu")
    with torch.no_grad():
        for n, p in zip(model.trainable_names, model.weights):
            p.copy_(params[n].to(device))
    if zero:
        opt.optim.load_state_dict(torch.load(os.path.join(ckdir, f"optim-rank{rank}.pt"), map_location=device))
    else:
        opt.load_state_dict(torch.load(os.path.join(ckdir, "optim.pt"), map_location=device))
    return meta["step"]


def train(args):
    job_path = os.path.abspath(args.job)
    job_dir = os.path.dirname(job_path)
    job = read_job(job_path)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if "MASTER_ADDR" not in os.environ:   # one process without a launcher: a world of one
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), RANK="0", WORLD_SIZE="1")
    device = torch.device("cuda" if (args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())) else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    if args.threads:
        torch.set_num_threads(args.threads)
    elif os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    s, o, L = job["schedule"], job["optimizer"], job["loss"]
    B, S, acc, total = s["batchSize"], s["seqLen"], s["accumulation"], s["steps"]
    stop = min(args.steps or total, total)
    if B % world != 0:
        raise JobError(f"{job_path}: the job's batch of {B} sequences cannot be split over {world} ranks; use a world size that divides {B}, or export the job with a larger --batch-size")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://")
    bf16 = args.dtype == "bf16" or (args.dtype == "auto" and device.type == "cuda")
    b = B // world
    d = job["data"]
    tokens = read_u32(os.path.join(job_dir, d["tokens"]), d["tokenCount"], d["sha256"].get(d["tokens"]))
    order = read_u32(os.path.join(job_dir, d["order"]), d["microBatches"] * B, d["sha256"].get(d["order"]))
    if d["microBatches"] < total * acc:
        raise JobError(f"{job_path}: order.bin has {d['microBatches']} micro-batches, the schedule needs {total * acc}")
    model_path = args.model or job["model"]
    if not os.path.isabs(model_path) and not os.path.exists(model_path):
        model_path = os.path.join(job_dir, model_path)
    out = os.path.abspath(args.out or os.path.join(job_dir, "run"))
    if rank == 0:
        os.makedirs(out, exist_ok=True)

    model = PostShareModel(job, load_model_tensors(model_path, job), device, args.grad_checkpoint, keep_stored_dtype=bf16)
    trainable = list(model.weights)
    decay = [p for p in trainable if p.dim() >= 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    groups = [g for g in ({"params": decay, "weight_decay": o["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
    adam = dict(lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"])
    if args.fsdp:
        try:
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        except Exception as e:  # PyTorch 1.13 on Python 3.11: a dataclass default breaks the import
            raise JobError(f"--fsdp: torch.distributed.fsdp does not import on this PyTorch {torch.__version__} ({e}); use PyTorch >= 2 or DDP + ZeRO-1 (the default)")
        wrapped = FSDP(model, use_orig_params=True, device_id=device if device.type == "cuda" else None)
        decay_ids = {id(p) for p in decay}
        live = [p for p in wrapped.parameters() if p.requires_grad]
        groups = [g for g in ({"params": [p for p in live if id(p) in decay_ids], "weight_decay": o["weightDecay"]},
                              {"params": [p for p in live if id(p) not in decay_ids], "weight_decay": 0.0}) if g["params"]]
        opt = torch.optim.AdamW(groups, **adam)
    else:
        wrapped = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None,
                                                            gradient_as_bucket_view=True)
        if args.no_zero:
            opt = torch.optim.AdamW(groups, **adam)
        else:
            from torch.distributed.optim import ZeroRedundancyOptimizer
            opt = ZeroRedundancyOptimizer(groups[0]["params"], optimizer_class=torch.optim.AdamW, weight_decay=groups[0]["weight_decay"], **adam)
            for g in groups[1:]:
                opt.add_param_group(g)

    start = 0
    if args.resume:
        if args.fsdp:
            raise JobError("--resume with --fsdp is not supported yet; resume with DDP + ZeRO-1 (the default) or --no-zero")
        start = load_checkpoint(out, model, opt, args, world, rank, device)
        log(f"resumed at step {start} of {total}")
    metrics = None
    if rank == 0:
        path = os.path.join(out, "metrics.jsonl")
        kept = []
        if args.resume and os.path.exists(path):
            with open(path) as f:
                kept = [line for line in f if line.strip() and json.loads(line)["step"] <= start]
        metrics = open(path + ".tmp", "w")
        metrics.writelines(kept)
        metrics.flush()
        os.replace(path + ".tmp", path)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    t0 = time.time()
    for step in range(start, stop):
        for p in trainable:
            if p.grad is not None:
                p.grad.zero_()
        lm_sum = torch.zeros((), device=device)
        w_sum = torch.zeros((), device=device)
        for micro in range(acc):
            k = step * acc + micro
            offs = order[k * B + rank * b: k * B + (rank + 1) * b]
            win = torch.stack([tokens[int(x): int(x) + S + 1] for x in offs]).to(device)   # [b, S + 1]
            sync = contextlib.nullcontext() if micro == acc - 1 else wrapped.no_sync()
            with sync:
                with autocast:
                    lm, wl = wrapped(win[:, :S], win[:, 1:])
                    loss = (L["lambdaLm"] * lm + L["lambdaW"] * wl) / acc
                loss.backward()
            lm_sum += lm.detach().float() / acc
            w_sum += wl.detach().float() / acc
        dist.all_reduce(lm_sum)
        lm_v = lm_sum.item() / world
        w_v = w_sum.item()
        if args.fsdp:
            norm = float(wrapped.clip_grad_norm_(float("inf")))
        else:
            norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in trainable if p.grad is not None))
        if not math.isfinite(norm) or not math.isfinite(lm_v):
            raise JobError(f"the loss or gradient norm became non-finite at step {step + 1} (lm {lm_v}, norm {norm}); lower the learning rate")
        clip = o["clipNorm"] / norm if o["clipNorm"] > 0 and math.isfinite(o["clipNorm"]) and norm > o["clipNorm"] else 1.0
        if clip != 1.0:
            for p in (q for q in wrapped.parameters() if q.grad is not None):
                p.grad.mul_(clip)
        lr = learning_rate(o, step, total)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        if metrics:
            row = {"step": step + 1, "steps": total, "lm": lm_v, "weight": w_v, "loss": L["lambdaLm"] * lm_v + L["lambdaW"] * w_v,
                   "lr": lr, "gradNorm": norm, "seconds": round(time.time() - t0, 3)}
            metrics.write(json.dumps(row) + "\n")
            metrics.flush()
            print(json.dumps(row), flush=True)
        if args.checkpoint_every and (step + 1) % args.checkpoint_every == 0 and step + 1 < stop:
            save_checkpoint(out, step + 1, model, opt, args, world, rank)
    if args.checkpoint_every and not args.fsdp:
        save_checkpoint(out, stop, model, opt, args, world, rank)

    # Final weights: every tensor in its stored dtype (rank 0 writes; with FSDP gather the full parameters first).
    if args.fsdp:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        ctx = FSDP.summon_full_params(wrapped, writeback=False, rank0_only=True)
    else:
        ctx = contextlib.nullcontext()
    with ctx:
        if rank == 0:
            final = {n: model.w(n).detach().to(model.stored_dtype[n]).cpu() for n in model.names}
            meta = {"format": "pt", TRAINED_METADATA_KEY: json.dumps({
                "planSha256": job["plan"]["planSha256"], "modelFingerprint": job["modelFingerprint"], "steps": stop,
                "scheduleSteps": total, "worldSize": world, "optimizer": "fsdp" if args.fsdp else ("ddp" if args.no_zero else "zero1"),
                "device": device.type, "bf16": bf16, "torch": torch.__version__})}
            write_safetensors(os.path.join(out, "model.safetensors"), final, meta)
            log(f"{stop - start} steps in {time.time() - t0:.1f} s; wrote {os.path.join(out, 'model.safetensors')}")
    if metrics:
        metrics.close()
    dist.barrier()
    dist.destroy_process_group()


def main(argv):
    args = parse_args(argv)
    if args.local_ranks and "RANK" not in os.environ:
        if args.local_ranks < 1:
            print("train.py: --local-ranks must be at least 1", file=sys.stderr)
            return 2
        return launch_local(args.local_ranks, argv)
    try:
        train(args)
    except JobError as e:
        print(f"train.py: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
