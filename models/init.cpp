#include "models/init.h"

#include <ATen/CPUGeneratorImpl.h>

namespace paratune::models {

namespace {
uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
uint64_t mix_string(uint64_t h, const std::string& s) {
  for (unsigned char c : s) h = splitmix(h ^ c);
  return splitmix(h ^ 0xff);
}
}  // namespace

uint64_t param_seed(uint64_t seed, const std::string& unit, const std::string& name) {
  return mix_string(mix_string(splitmix(seed), unit), name);
}

at::Tensor init_full_param(const ParamSpec& spec, uint64_t seed, const std::string& unit) {
  auto opts = at::TensorOptions().dtype(at::kFloat);
  switch (spec.init) {
    case InitKind::kOnes: return at::ones(spec.full_shape, opts);
    case InitKind::kZeros: return at::zeros(spec.full_shape, opts);
    case InitKind::kNormal: break;
  }
  at::Generator gen = at::detail::createCPUGenerator(param_seed(seed, unit, spec.name));
  return at::normal(0.0, spec.std, spec.full_shape, gen, opts);
}

at::Tensor shard_of(const ParamSpec& spec, const at::Tensor& full, int tp, int tp_rank) {
  if (spec.split_dim < 0 || tp == 1) return full;
  const int64_t chunk = full.size(spec.split_dim) / tp;
  return full.narrow(spec.split_dim, tp_rank * chunk, chunk);
}

at::Tensor init_param_shard(const ParamSpec& spec, uint64_t seed, const std::string& unit, int tp,
                            int tp_rank) {
  return shard_of(spec, init_full_param(spec, seed, unit), tp, tp_rank).contiguous();
}

}  // namespace paratune::models
