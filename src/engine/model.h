/* Internal model layout shared by the loader (model.c), the forward pass (forward.c) and the
 * context (context.c). One struct per layer carries its own shape, so families whose layers
 * differ (Gemma's sliding/global layers with their own head sizes, MoE beside a dense MLP)
 * fill the same struct without a second code path for the common parts. */
#ifndef MLXN_ENGINE_MODEL_H
#define MLXN_ENGINE_MODEL_H
#include "mlxn.h"
#include "core/status.h"

/* What an architecture adds to the llama block. */
typedef struct mlxn_arch_desc {
    const char *name;            /* GGUF general.architecture */
    mlxn_rope_mode rope_mode;    /* in GGUF files: NORM for llama (the converter permutes q/k), NEOX
                                  * otherwise (folders keep HF's unpermuted weights: always NEOX) */
    bool qkv_bias;               /* qwen2: biases on q, k, v */
    bool qk_norm;                /* qwen3: per-head RMSNorm on q and k before RoPE */
    bool moe;                    /* qwen3moe: every layer's FFN is a mixture of experts (softmax
                                  * router over all experts, top k renormalised, SwiGLU experts) */
    bool gemma;                  /* gemma3: embeddings x sqrt(n_embd), post-attention and post-FFN
                                  * norms before the residual adds, GELU-tanh GLU, sliding-window
                                  * layers with their own RoPE base, every 6th layer global */
    bool gemma4;                 /* gemma4 (with gemma): per-layer head sizes (sliding *_swa keys,
                                  * global keys), K = V on global layers without attn_v, v_norm,
                                  * rope_freqs on global layers only, attention scale 1, experts in
                                  * parallel with the dense MLP, layer_output_scale, final softcap */
} mlxn_arch_desc;

/* A tensor that may be absent (present == false). */
typedef struct mlxn_opt_tensor {
    bool present;
    mlxn_tensor t;
} mlxn_opt_tensor;

typedef struct mlxn_layer {
    /* shape of this layer (equal across layers for llama/qwen2/qwen3) */
    int n_head, n_head_kv;
    int head_dim_k, head_dim_v;  /* per head */
    int n_ff;                    /* dense FFN width; 0 if the layer has none */
    int n_rot;                   /* rotated dims of each head */
    float rope_base, rope_scale; /* base, 1/linear factor */
    int window;                  /* sliding window in positions; 0 = full attention */
    float attn_scale;            /* 1/sqrt(head_dim_k) unless the family says otherwise */
    bool no_rope_freqs;          /* gemma4 sliding layers: the model's rope_freqs do not apply */
    bool k_eq_v;                 /* gemma4 global layer without attn_v: V = v_norm(raw k_proj output) */
    bool v_norm;                 /* gemma4: V = rms_norm(V) without a weight before the cache */

    /* attention */
    mlxn_tensor attn_norm;       /* f32 {n_embd} */
    mlxn_weight wq;              /* {n_embd, n_head*head_dim_k} */
    mlxn_weight wk;              /* {n_embd, n_head_kv*head_dim_k} */
    mlxn_weight wv;              /* {n_embd, n_head_kv*head_dim_v} */
    mlxn_weight wo;              /* {n_head*head_dim_v, n_embd} */
    mlxn_opt_tensor bq, bk, bv;  /* f32 {rows}: qwen2 (not placed: only bqkv is) */
    /* Fused projections, built at load: qkv_fused = 3: wqkv {n_embd, Q+K+V} holds the rows of
     * wq, wk, wv in that order (one mat-vec gives q|k|v); 2: wqkv {n_embd, Q+K} holds wq, wk
     * and wv stays alone (its type differs); 0: three matrices. Only what the forward pass
     * uses is placed on the backend: wq/wk (and wv when fused) are then shape records only. */
    int qkv_fused;
    mlxn_weight wqkv;
    mlxn_opt_tensor bqkv;        /* f32 {Q+K+V}: bq|bk|bv concatenated (qwen2) */
    mlxn_opt_tensor q_norm;      /* f32 {head_dim_k}: qwen3, gemma3 */
    mlxn_opt_tensor k_norm;      /* f32 {head_dim_k} */
    mlxn_opt_tensor post_attn_norm;  /* f32 {n_embd}: gemma3, on Wo.att before the residual add */

    /* dense feed-forward */
    mlxn_tensor ffn_norm;        /* f32 {n_embd} */
    mlxn_weight ffn_gate;        /* {n_embd, n_ff} */
    mlxn_weight ffn_up;          /* {n_embd, n_ff} */
    mlxn_weight ffn_down;        /* {n_ff, n_embd} */
    bool gate_up_fused;          /* ffn_gate_up {n_embd, 2 n_ff} = gate rows then up rows */
    mlxn_weight ffn_gate_up;
    mlxn_opt_tensor post_ffn_norm;   /* f32 {n_embd}: gemma3, on the FFN output before the add */

    /* mixture of experts beside or instead of the dense FFN (Qwen3-MoE: instead; Gemma 4: beside) */
    int n_expert, n_expert_used, n_ff_exp;   /* 0 when the layer has no experts */
    bool has_moe;
    mlxn_weight ffn_gate_inp;    /* router {n_embd, n_expert} */
    mlxn_weight ffn_gate_exps;   /* {n_embd, n_ff_exp, n_expert} */
    mlxn_weight ffn_up_exps;     /* {n_embd, n_ff_exp, n_expert} */
    mlxn_weight ffn_down_exps;   /* {n_ff_exp, n_embd, n_expert} */
    /* Gemma 4's experts, in parallel with the dense MLP of the same layer */
    bool gate_up_exps_fused;     /* ffn_gate_up_exps {n_embd, 2 n_ff_exp, n_expert}: per expert the
                                  * gate rows then the up rows (else ffn_gate_exps / ffn_up_exps) */
    mlxn_weight ffn_gate_up_exps;
    mlxn_opt_tensor router_scale;    /* f32 {n_embd}: ffn_gate_inp.scale, on rms_norm(h) before the router */
    mlxn_opt_tensor expert_scale;    /* f32 {n_expert}: ffn_down_exps.scale, times each chosen weight */
    mlxn_opt_tensor post_ffn_norm_1; /* f32 {n_embd}: on the dense MLP's output (MoE layers) */
    mlxn_opt_tensor pre_ffn_norm_2;  /* f32 {n_embd}: the experts' input norm */
    mlxn_opt_tensor post_ffn_norm_2; /* f32 {n_embd}: on the experts' weighted sum */
    mlxn_opt_tensor out_scale;       /* f32 {1}: layer_output_scale, the block's output times it */

    /* KV cache placement inside the context's cache buffer */
    size_t k_offset, v_offset;   /* filled by the context */
} mlxn_layer;

struct mlxn_model {
    mlxn_errbuf err;
    char *path;
    mlxn_gguf_t *gguf;
    mlxn_backend_t *be;
    const mlxn_arch_desc *arch;
    mlxn_rope_mode rope_mode;    /* the pairing of this file's q/k rows (arch->rope_mode for GGUF) */
    mlxn_model_info info;
    char name[256];

    float norm_eps;
    mlxn_opt_tensor rope_freqs;  /* f32 {n_rot/2}: Llama 3.1 frequency factors; gemma4: global layers' */
    int rope_freqs_rot;          /* n_rot of the layers rope_freqs applies to (its length x 2) */
    float final_softcap;         /* gemma4: logits = c tanh(logits / c); 0 = off */

    mlxn_weight tok_embd;        /* {n_embd, n_vocab} */
    mlxn_tensor output_norm;     /* f32 {n_embd} */
    mlxn_weight output;          /* {n_embd, n_vocab}; tok_embd when the model ties them */
    mlxn_layer *layers;          /* [n_layer] */

    /* max over layers, for sizing scratch */
    int max_q_dim, max_kv_dim, max_v_dim, max_ff, max_head_dim;
    int max_qkv_dim;             /* n_head*hd_k + n_head_kv*(hd_k + hd_v) */
    int max_qk_dim;              /* (n_head + n_head_kv) * hd_k */
    int max_expert, max_expert_used;   /* over MoE layers (0 without experts) */
    int max_moe_ff;              /* max n_ff_exp * n_expert_used: a token's expert hidden values */
    bool tied_output;            /* output is token_embd */
    bool no_fuse;                /* MLXN_NO_FUSE set at load: separate q/k/v and gate/up */

    mlxn_buffer_t *weights;      /* every weight: wraps the map on CPU, one device buffer otherwise */
    mlxn_buffer_t *fused;        /* CPU only: fused matrices whose parts are not adjacent in the
                                  * file (a host copy; the parts in the map are never read) */
};

/* A context: the KV cache and the activations of one sequence. Scratch tensors are sized for
 * n_batch tokens; a step over n <= n_batch tokens uses the first n columns of each. */
struct mlxn_context {
    mlxn_errbuf err;
    mlxn_model_t *m;
    mlxn_backend_t *be;
    int n_ctx, n_batch, n_past;
    mlxn_type kv_type;
    size_t kv_bytes;
    mlxn_buffer_t *kv;           /* per layer: K {head_dim_k, n_ctx, n_head_kv}, V {head_dim_v, ...} */
    mlxn_buffer_t *scratch;      /* activations, below */
    size_t off_x;                /* f32 {n_embd, n_batch}: the residual stream */
    size_t off_xn;               /* f32 {n_embd, n_batch}: normed input of a block / final norm */
    size_t off_o;                /* f32 {n_embd, n_batch}: a block's output before the residual add */
    size_t off_qkv;              /* f32 {max_qkv_dim, n_batch}: column t = q_t | k_t | v_t */
    size_t off_att;              /* f32 {max(max_q_dim, max_qk_dim), n_batch}: attention output;
                                  * Qwen3's normed q|k before RoPE ({max_qkv_dim, n_batch}) */
    size_t off_gu;               /* f32 {2 max(max_ff, max_moe_ff), n_batch}: column t = gate_t | up_t
                                  * (MoE: the experts' gate {n_ff_exp, k, n}, then up alike) */
    size_t off_qkn;              /* f32 {max_qkv_dim, n_batch} (Qwen3 only): k-normed rows */
    size_t off_h;                /* f32 {max(max_ff, max_moe_ff), n_batch}: act(gate) * up */
    /* MoE layers (0-sized without experts) */
    size_t off_rl;               /* f32 {max_expert, n_batch}: router logits */
    size_t off_eids;             /* i32 {max_expert_used, n_batch}: chosen experts */
    size_t off_ew;               /* f32 {max_expert_used, n_batch}: their weights */
    size_t off_eo;               /* f32 {n_embd * max_expert_used, n_batch}: expert outputs */
    size_t off_logits;           /* f32 {n_vocab, logit_rows} */
    size_t off_ids, off_pos;     /* i32 {n_batch}: token ids, positions */
    size_t off_step;             /* i32 {2}: id and position of a single-token step */
    size_t off_argmax;           /* i32 {1} */
    size_t off_hist;             /* i32 {PIPE_RING}: greedy ids the pipelined decode steps hand over
                                  * (argmax_advance: the id to run at position p lands at p mod ring) */
    int logit_rows;

    int use_graph;               /* resolved: 0 or 1 */
    mlxn_graph_t *graph;         /* the recorded decode step (n = 1), replayed per token */
    bool graph_broken;           /* recording failed once: run ops directly from then on */
    mlxn_graph_t *graph_pipe;    /* the greedy decode step ending in argmax_advance (context.c) */
    bool pipe_broken;            /* recording it failed once: greedy runs step by step from then on */
    int gen_pipe;                /* MLXN_GEN_PIPE (at creation): greedy steps queued per batch (0 = step by step) */
    int n_direct_steps;          /* single-token steps run op by op before recording */
    int n_ops;                   /* op calls issued by the forward pass (counted while recording) */
    int graph_ops;               /* op calls in the recorded decode graph */
    bool direct_ops_logged;      /* the op count of an op-by-op decode step was logged */
    uint64_t skip_ops;           /* bit per forward kind left out (MLXN_ENGINE_SKIP; results wrong) */
    bool no_mmfuse;              /* MLXN_NO_MMFUSE=1: separate norm / glu / add ops around the
                                  * mat-vecs instead of mul_mat_fused (forward.c) */
    bool no_ropekv;              /* MLXN_NO_ROPEKV=1 at creation: rope + kv_write instead of rope_kv */
};

/* Kinds of the forward pass's op calls: the op (MLXN_OP_*) and, for the matrix products,
 * which one (for MLXN_ENGINE_SKIP, a timing aid: ops of the listed kinds are left out). */
enum {
    MLXN_FWD_QKV = MLXN_OP_COUNT, MLXN_FWD_O, MLXN_FWD_GATE_UP, MLXN_FWD_DOWN, MLXN_FWD_LM_HEAD,
    MLXN_FWD_ROUTER,             /* MoE router logits (the experts' products count as gate_up / down) */
    MLXN_FWD_KIND_COUNT
};
const char *mlxn_forward_kind_name(int kind);   /* NULL outside [0, MLXN_FWD_KIND_COUNT) */

/* model.c: the architecture named name (GGUF general.architecture), NULL if unknown. */
const mlxn_arch_desc *mlxn_arch_find(const char *name);

/* model_hf.c: fills m from a Hugging Face / mlx-lm folder (config.json + *.safetensors):
 * llama, qwen2, qwen3, qwen3_moe, plain or MLX affine weights. m->gguf stays NULL. */
mlxn_status mlxn_model_load_folder(mlxn_model_t *m, const char *dir, const mlxn_model_params *params);

/* forward.c. Runs n tokens (ids and positions already in the scratch buffer) through every
 * layer, leaving the residual stream in off_x (and, with no_mmfuse, the final norm of it in
 * off_xn; otherwise the LM head applies that norm itself). */
mlxn_status mlxn_forward_layers(struct mlxn_context *c, int n);
/* logits f32 {n_vocab, nrows} at off_logits = output . norm(x)[:, row0 .. row0+nrows). */
mlxn_status mlxn_forward_lm_head(struct mlxn_context *c, int row0, int nrows);
/* argmax of logits row 0 into off_argmax. */
mlxn_status mlxn_forward_argmax(struct mlxn_context *c);
/* argmax of logits row 0 handed to the next step: off_step becomes {id, position + 1} and the id
 * lands in off_hist at (position + 1) mod ring (ring entries). */
mlxn_status mlxn_forward_argmax_advance(struct mlxn_context *c, int ring);

#endif
