#include "executor/data.h"

#include <fstream>
#include <iterator>

#include <ATen/CPUGeneratorImpl.h>

namespace paratune::executor {

namespace {
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

StatusOr<TokenSource> TokenSource::from_file(const std::string& path, int vocab, uint64_t seed) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound(path + ": cannot open the training text (use --data FILE or --data synthetic)");
  TokenSource s;
  s.bytes_.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  if (s.bytes_.size() < 1024)
    return InvalidArgument(path + ": the training text is too short (" +
                           std::to_string(s.bytes_.size()) + " bytes, need >= 1024)");
  s.vocab_ = vocab;
  s.seed_ = seed;
  s.desc_ = path + " (" + std::to_string(s.bytes_.size()) + " bytes, token = byte mod " +
            std::to_string(vocab) + ")";
  return s;
}

TokenSource TokenSource::synthetic(int vocab, uint64_t seed) {
  TokenSource s;
  s.vocab_ = vocab;
  s.seed_ = seed;
  s.desc_ = "synthetic uniform tokens (vocab " + std::to_string(vocab) + ")";
  return s;
}

at::Tensor TokenSource::batch(int64_t step, int64_t batch, int64_t len) const {
  const uint64_t key = mix(mix(seed_) ^ uint64_t(step));
  if (bytes_.empty()) {
    at::Generator gen = at::detail::createCPUGenerator(key);
    return at::randint(0, vocab_, {batch, len}, gen, at::kLong);
  }
  TORCH_CHECK(int64_t(bytes_.size()) > len, "paratune: text shorter than one sample");
  at::Tensor out = at::empty({batch, len}, at::kLong);
  auto* p = out.data_ptr<int64_t>();
  const uint64_t span = bytes_.size() - uint64_t(len);
  for (int64_t b = 0; b < batch; ++b) {
    const uint64_t off = mix(key ^ uint64_t(b)) % span;
    for (int64_t t = 0; t < len; ++t) p[b * len + t] = bytes_[off + t] % vocab_;
  }
  return out;
}

}  // namespace paratune::executor
