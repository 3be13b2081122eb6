#include "tests/executor/plans.h"

namespace paratune::executor::testing {

ModelConfig tiny_gpt() {
  ModelConfig m;
  m.name = "tiny-gpt";
  m.num_layers = 8;
  m.hidden = 32;
  m.heads = 8;
  m.kv_heads = 8;
  m.ffn_hidden = 64;
  m.seq_len = 16;
  m.vocab = 64;
  m.norm = NormKind::kLayerNorm;
  m.activation = ActivationKind::kGelu;
  m.position = PositionKind::kLearned;
  m.tied_embeddings = true;
  m.bias = true;
  return m;
}

ModelConfig tiny_llama() {
  ModelConfig m;
  m.name = "tiny-llama";
  m.num_layers = 8;
  m.hidden = 64;
  m.heads = 16;
  m.kv_heads = 8;
  m.ffn_hidden = 128;
  m.seq_len = 16;
  m.vocab = 64;
  m.norm = NormKind::kRmsNorm;
  m.activation = ActivationKind::kSwiGlu;
  m.position = PositionKind::kRope;
  m.tied_embeddings = false;
  m.bias = false;
  return m;
}

Strategy uniform_plan(int devices, int pp, const LayerStrategy& ls, int layers, int global_batch,
                      int micro_batches) {
  return uniform_strategy(devices, pp, ls, layers, global_batch, micro_batches);
}

namespace {

LayerStrategy ls_of(int tp, int dp, bool tp_consecutive, DpType t, bool ckpt = false,
                    bool sp = false) {
  LayerStrategy ls;
  ls.tp = tp;
  ls.dp = dp;
  ls.tp_consecutive = tp_consecutive;
  ls.dp_type = dp > 1 ? t : DpType::kDdp;
  ls.checkpoint = ckpt;
  ls.sp = sp;
  return ls;
}

struct G {
  const char* name;
  int pp, tp, dp;
  bool tp_consecutive;
  bool zero3;
};

// pp-tp-dp, '*' marks the consecutive side, 'f' = ZeRO-3 (Galvatron's naming).
const G kGalvatron[] = {
    {"1-1-8", 1, 1, 8, true, false},   {"1-1-8f", 1, 1, 8, true, true},
    {"1-2-4*", 1, 2, 4, false, false}, {"1-2-4*f", 1, 2, 4, false, true},
    {"1-2*-4", 1, 2, 4, true, false},  {"1-2*-4f", 1, 2, 4, true, true},
    {"1-4-2*", 1, 4, 2, false, false}, {"1-4-2*f", 1, 4, 2, false, true},
    {"1-4*-2", 1, 4, 2, true, false},  {"1-4*-2f", 1, 4, 2, true, true},
    {"1-8-1", 1, 8, 1, true, false},   {"2-1-4", 2, 1, 4, true, false},
    {"2-1-4f", 2, 1, 4, true, true},   {"2-2-2*", 2, 2, 2, false, false},
    {"2-2-2*f", 2, 2, 2, false, true}, {"2-2*-2", 2, 2, 2, true, false},
    {"2-2*-2f", 2, 2, 2, true, true},  {"2-4-1", 2, 4, 1, true, false},
    {"4-1-2", 4, 1, 2, true, false},   {"4-1-2f", 4, 1, 2, true, true},
    {"4-2-1", 4, 2, 1, true, false},   {"8-1-1", 8, 1, 1, true, false},
};

NamedPlan from_g(const G& g, int layers, DpType ddp_kind, bool ckpt) {
  LayerStrategy ls = ls_of(g.tp, g.dp, g.tp_consecutive, g.zero3 ? DpType::kZero3 : ddp_kind, ckpt);
  return {g.name, uniform_plan(8, g.pp, ls, layers, 16, 2)};
}

}  // namespace

std::vector<NamedPlan> galvatron_22(int layers) {
  std::vector<NamedPlan> out;
  for (const G& g : kGalvatron) out.push_back(from_g(g, layers, DpType::kDdp, false));
  return out;
}

std::vector<NamedPlan> zero2_variants(int layers) {
  std::vector<NamedPlan> out;
  for (const G& g : kGalvatron) {
    if (g.zero3 || g.dp == 1) continue;
    NamedPlan p = from_g(g, layers, DpType::kZero2, false);
    p.name += "-zero2";
    out.push_back(p);
  }
  return out;
}

std::vector<NamedPlan> checkpoint_variants(int layers) {
  std::vector<NamedPlan> out;
  for (const G& g : kGalvatron) {
    NamedPlan p = from_g(g, layers, DpType::kDdp, true);
    p.name += "-ckpt";
    out.push_back(p);
  }
  return out;
}

std::vector<NamedPlan> sp_plans(int layers) {
  std::vector<NamedPlan> out;
  out.push_back({"1-2*-4-sp", uniform_plan(8, 1, ls_of(2, 4, true, DpType::kDdp, false, true), layers, 16, 2)});
  out.push_back({"1-4-2*f-sp", uniform_plan(8, 1, ls_of(4, 2, false, DpType::kZero3, false, true), layers, 16, 2)});
  out.push_back({"2-4*-1-sp-ckpt", uniform_plan(8, 2, ls_of(4, 1, true, DpType::kDdp, true, true), layers, 16, 2)});
  out.push_back({"1-8-1-sp", uniform_plan(8, 1, ls_of(8, 1, true, DpType::kDdp, false, true), layers, 16, 2)});
  return out;
}

std::vector<NamedPlan> mixed_plans(int devices, int layers) {
  std::vector<NamedPlan> out;
  auto with = [&](std::string name, int pp, std::vector<int> division, int micro,
                  LayerStrategy emb, std::vector<LayerStrategy> ls) {
    Strategy s = uniform_plan(devices, pp, emb, layers, 16, micro);
    s.pp_division = division;
    s.embedding = emb;
    for (int l = 0; l < layers; ++l) s.layers[l] = ls[l % ls.size()];
    out.push_back({std::move(name), s});
  };
  const DpType D = DpType::kDdp, Z2 = DpType::kZero2, Z3 = DpType::kZero3;
  if (devices == 4) {
    with("m4-pp1-mixed", 1, {layers}, 2, ls_of(2, 2, true, D),
         {ls_of(2, 2, true, D), ls_of(2, 2, false, Z3), ls_of(4, 1, true, D, true, true),
          ls_of(1, 4, true, Z2, true), ls_of(4, 1, true, D), ls_of(2, 2, false, D, false, true)});
    with("m4-pp2-uneven", 2, {3, layers - 3}, 4, ls_of(1, 2, true, Z3),
         {ls_of(2, 1, true, D), ls_of(1, 2, true, Z2, true), ls_of(2, 1, true, D, false, true)});
    with("m4-pp4-uneven", 4, {1, 3, 2, layers - 6}, 4, ls_of(1, 1, true, D),
         {ls_of(1, 1, true, D), ls_of(1, 1, true, D, true)});
  } else {
    with("m8-pp1-all-kinds", 1, {layers}, 2, ls_of(4, 2, false, Z3),
         {ls_of(8, 1, true, D), ls_of(4, 2, true, D, false, true), ls_of(2, 4, false, Z3, true),
          ls_of(1, 8, true, Z2), ls_of(4, 2, false, D, true), ls_of(2, 4, true, Z3, false, true)});
    with("m8-pp2-uneven", 2, {2, layers - 2}, 4, ls_of(2, 2, true, Z2),
         {ls_of(4, 1, true, D, false, true), ls_of(1, 4, true, Z3), ls_of(2, 2, false, D, true),
          ls_of(2, 2, true, Z2)});
    with("m8-pp4-uneven", 4, {1, 3, 2, layers - 6}, 4, ls_of(2, 1, true, D),
         {ls_of(2, 1, true, D), ls_of(1, 2, true, Z3, true), ls_of(2, 1, true, D, false, true),
          ls_of(1, 2, true, D)});
  }
  return out;
}

}  // namespace paratune::executor::testing
