// Decision-tree enumeration of per-layer strategies (rule and counts: see decision_tree.h).
//
// Paths are built depth-first: at each level pick a paradigm not used yet on this path (at most
// one data-parallel kind unless mix_dp_and_sdp) and a degree >= 2 dividing the devices left (a
// power of two <= max_tp for TP); a path is complete when no device is left to split. Then the
// leaf flags multiply it: sp in {off, on if there is a TP level}, checkpoint in {off, on}.
#include "search/decision_tree.h"

#include <algorithm>
#include <tuple>

namespace paratune::search {
namespace {

using Kind = TreeLevel::Kind;

bool is_dp_kind(Kind k) {
  return k != Kind::kTp;
}

DpType dp_type_of(Kind k) {
  switch (k) {
    case Kind::kZero2:
      return DpType::kZero2;
    case Kind::kZero3:
      return DpType::kZero3;
    default:
      return DpType::kDdp;
  }
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kTp:
      return "tp";
    case Kind::kDdp:
      return "ddp";
    case Kind::kZero2:
      return "zero2";
    case Kind::kZero3:
      return "zero3";
  }
  return "?";
}

std::vector<Kind> allowed_kinds(const DecisionTreeOptions& o) {
  std::vector<Kind> k{Kind::kTp};
  if (o.allow_ddp) k.push_back(Kind::kDdp);
  if (o.allow_zero2) k.push_back(Kind::kZero2);
  if (o.allow_zero3) k.push_back(Kind::kZero3);
  return k;
}

bool is_power_of_two(int x) {
  return x > 0 && (x & (x - 1)) == 0;
}

// Depth-first over level sequences whose degrees multiply to `remaining`.
void extend(int remaining, const std::vector<Kind>& kinds, const DecisionTreeOptions& o,
            std::vector<TreeLevel>& cur, std::vector<std::vector<TreeLevel>>& out) {
  if (remaining == 1) {
    out.push_back(cur);
    return;
  }
  for (Kind k : kinds) {
    bool used = false, dp_used = false;
    for (const TreeLevel& l : cur) {
      used |= l.kind == k;
      dp_used |= is_dp_kind(l.kind);
    }
    if (used) continue;                                           // one level per paradigm
    if (is_dp_kind(k) && dp_used && !o.mix_dp_and_sdp) continue;  // the DP/SDP pruning
    for (int deg = 2; deg <= remaining; ++deg) {
      if (remaining % deg != 0) continue;
      if (k == Kind::kTp && (!is_power_of_two(deg) || (o.max_tp > 0 && deg > o.max_tp))) continue;
      cur.push_back(TreeLevel{k, deg});
      extend(remaining / deg, kinds, o, cur, out);
      cur.pop_back();
    }
  }
}

auto path_key(const TreePath& p) {
  std::vector<std::pair<int, int>> levels;
  for (const TreeLevel& l : p.levels) levels.emplace_back(static_cast<int>(l.kind), l.degree);
  return std::make_tuple(p.tp(), p.levels.size(), levels, p.sp, p.checkpoint);
}

auto strategy_key(const LayerStrategy& s) {
  return std::make_tuple(s.tp, !s.tp_consecutive, static_cast<int>(s.dp_type), s.sp, s.checkpoint,
                         s.dp);
}

}  // namespace

Status DecisionTreeOptions::validate() const {
  if (max_tp < 0)
    return InvalidArgument("decision tree: max_tp must be >= 0 (0 = no cap), got " +
                           std::to_string(max_tp));
  if (!allow_ddp && !allow_zero2 && !allow_zero3)
    return InvalidArgument(
        "decision tree: allow_ddp, allow_zero2 and allow_zero3 are all false: no data-parallel "
        "kind left");
  return Status::Ok();
}

DecisionTreeOptions DecisionTreeOptions::galvatron(bool checkpoint, bool pruned) {
  DecisionTreeOptions o;
  o.max_tp = 0;
  o.allow_ddp = true;
  o.allow_zero2 = false;
  o.allow_zero3 = true;
  o.mix_dp_and_sdp = !pruned;
  o.allow_strided_tp = true;
  o.allow_sp = false;
  o.allow_checkpoint = checkpoint;
  return o;
}

int TreePath::tp() const {
  int t = 1;
  for (const TreeLevel& l : levels)
    if (l.kind == Kind::kTp) t *= l.degree;
  return t;
}

int TreePath::dp() const {
  int d = 1;
  for (const TreeLevel& l : levels)
    if (is_dp_kind(l.kind)) d *= l.degree;
  return d;
}

bool TreePath::mixes_dp_kinds() const {
  int kinds = 0;
  for (const TreeLevel& l : levels) kinds += is_dp_kind(l.kind);
  return kinds > 1;
}

std::string to_string(const TreePath& p) {
  std::string s;
  for (const TreeLevel& l : p.levels) {
    if (!s.empty()) s += "/";
    s += kind_name(l.kind);
    if (l.kind != Kind::kTp) s += "x";
    s += std::to_string(l.degree);
  }
  if (s.empty()) s = "-";
  if (p.sp) s += "-sp";
  if (p.checkpoint) s += "-ckpt";
  return s;
}

std::vector<TreePath> enumerate_tree_paths(int devices_per_stage, const DecisionTreeOptions& o) {
  PARATUNE_CHECK_MSG(devices_per_stage >= 1, "devices per stage must be >= 1");
  const Status st = o.validate();
  PARATUNE_CHECK_MSG(st.ok(), st.message());

  std::vector<std::vector<TreeLevel>> shapes;
  std::vector<TreeLevel> cur;
  extend(devices_per_stage, allowed_kinds(o), o, cur, shapes);

  std::vector<TreePath> out;
  for (const std::vector<TreeLevel>& levels : shapes) {
    TreePath base;
    base.levels = levels;
    const bool has_tp = base.tp() > 1;
    if (has_tp && !o.allow_strided_tp && levels.back().kind != Kind::kTp) continue;
    for (bool sp : {false, true}) {
      if (sp && !(has_tp && o.allow_sp)) continue;
      for (bool ckpt : {false, true}) {
        if (ckpt && !o.allow_checkpoint) continue;
        TreePath p = base;
        p.sp = sp;
        p.checkpoint = ckpt;
        out.push_back(std::move(p));
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const TreePath& a, const TreePath& b) { return path_key(a) < path_key(b); });
  return out;
}

std::optional<LayerStrategy> to_layer_strategy(const TreePath& p) {
  if (p.mixes_dp_kinds()) return std::nullopt;
  LayerStrategy s;
  s.tp = p.tp();
  s.dp = p.dp();
  s.sp = p.sp;
  s.checkpoint = p.checkpoint;
  s.dp_type = DpType::kDdp;
  s.tp_consecutive = true;
  bool seen_tp = false;
  for (const TreeLevel& l : p.levels) {
    if (l.kind == Kind::kTp) {
      seen_tp = true;
    } else {
      s.dp_type = dp_type_of(l.kind);
      if (seen_tp) s.tp_consecutive = false;  // a DP level below TP takes consecutive devices
    }
  }
  return s;
}

std::vector<LayerStrategy> enumerate_layer_strategies(int devices_per_stage,
                                                      const DecisionTreeOptions& o) {
  std::vector<LayerStrategy> out;
  for (const TreePath& p : enumerate_tree_paths(devices_per_stage, o))
    if (std::optional<LayerStrategy> s = to_layer_strategy(p)) out.push_back(*s);
  std::sort(out.begin(), out.end(), [](const LayerStrategy& a, const LayerStrategy& b) {
    return strategy_key(a) < strategy_key(b);
  });
  for (size_t i = 1; i < out.size(); ++i)
    PARATUNE_CHECK_MSG(out[i - 1] != out[i], "two tree paths gave one layer strategy");
  return out;
}

bool tp_fits_model(int tp, const ModelConfig& model) {
  return tp >= 1 && model.heads % tp == 0 && model.kv_heads % tp == 0 && model.ffn_hidden % tp == 0;
}

std::vector<LayerStrategy> filter_for_model(std::vector<LayerStrategy> candidates,
                                            const ModelConfig& model) {
  candidates.erase(
      std::remove_if(candidates.begin(), candidates.end(),
                     [&](const LayerStrategy& s) { return !tp_fits_model(s.tp, model); }),
      candidates.end());
  return candidates;
}

std::map<int, std::vector<LayerStrategy>> enumerate_by_pp(int num_devices, int max_pp,
                                                          const DecisionTreeOptions& o) {
  PARATUNE_CHECK_MSG(num_devices >= 1, "num_devices must be >= 1");
  std::map<int, std::vector<LayerStrategy>> out;
  for (int pp = 1; pp <= num_devices && (max_pp <= 0 || pp <= max_pp); pp *= 2)
    if (num_devices % pp == 0) out[pp] = enumerate_layer_strategies(num_devices / pp, o);
  return out;
}

std::map<int, std::vector<LayerStrategy>> enumerate_by_pp(int num_devices, int max_pp,
                                                          const DecisionTreeOptions& o,
                                                          const ModelConfig& model) {
  std::map<int, std::vector<LayerStrategy>> out = enumerate_by_pp(num_devices, max_pp, o);
  for (auto it = out.begin(); it != out.end();) {
    if (it->first > model.num_layers) {
      it = out.erase(it);
    } else {
      it->second = filter_for_model(std::move(it->second), model);
      ++it;
    }
  }
  return out;
}

}  // namespace paratune::search
