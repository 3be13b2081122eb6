// libFuzzer target: strategy reader (strategy.json), plus validation against a fixed model,
// and Galvatron's strategy-config importer on the same bytes.
#include "bench/fuzz/fuzz_util.h"
#include "core/galvatron.h"
#include "core/strategy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace paratune;
  const std::string path = fuzz::input_file(data, size);
  ModelConfig m;
  m.name = "fuzz";
  m.num_layers = 4;
  m.hidden = 64;
  m.heads = 8;
  m.kv_heads = 8;
  m.ffn_hidden = 256;
  m.seq_len = 32;
  m.vocab = 128;
  (void)galvatron::load_strategy(path, 8);
  auto s = load_strategy(path);
  if (!s.ok()) return 0;
  (void)validate(*s, m, "fuzz");
  (void)to_string(s->embedding);
  auto back = strategy_from_json(to_json(*s), "round-trip");
  if (!back.ok()) fuzz::finding("strategy round trip rejected: " + back.status().message());
  if (!(*back == *s)) fuzz::finding("strategy round trip changed the value");
  return 0;
}
