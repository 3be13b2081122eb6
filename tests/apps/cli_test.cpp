// End-to-end tests of the `paratune` binary: every kind of bad input gives exit code 1, one
// message naming the file and the field, and no output file; usage errors and --help; search ->
// estimate consistency, determinism, and the Galvatron import/export round trip.
//
// The binary runs as a child process (fork + exec, stdout and stderr captured together) from the
// repository root; every test works in its own mkdtemp folder, removed at the end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/json_reader.h"
#include "core/model_config.h"

#ifndef PARATUNE_BIN
#error "PARATUNE_BIN must name the paratune binary"
#endif

namespace paratune {
namespace {

namespace fs = std::filesystem;

const char kCluster[] = "configs/clusters/a100-80gb-1x8.json";
const char kTiny[] = "configs/models/tiny.json";
const char kGptSmall[] = "configs/models/gpt-small.json";
const char kLlama70b[] = "configs/models/llama2-70b.json";
const char kA800[] = "../shared/data/galvatron-a800";
const char kGalvatronConfig[] = "configs/galvatron/galvatron_config_llama2-7b_8gpus.json";

// ---------------------------------------------------------------------------------------------
// Running the binary, files, folders.

struct Result {
  int code = -1;       // exit status; 128 + signal when killed
  std::string output;  // stdout and stderr, interleaved
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "exit " << r.code << ", output:\n" << r.output;
}

Result run(const std::vector<std::string>& args) {
  Result res;
  int fds[2];
  if (::pipe(fds) != 0) {
    ADD_FAILURE() << "pipe failed";
    return res;
  }
  std::vector<std::string> all = {PARATUNE_BIN};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    ADD_FAILURE() << "fork failed";
    return res;
  }
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      res.output.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  res.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return res;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

Json read_json(const std::string& path) {
  return Json::parse(read_text(path));
}

/// A fresh folder (mkdtemp), removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "paratune-cli-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string write(const std::string& name, const std::string& text) const {
    write_text(file(name), text);
    return file(name);
  }
  std::string write(const std::string& name, const Json& j) const {
    return write(name, dump_json(j));
  }
  std::set<std::string> names() const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(path_)) out.insert(e.path().filename().string());
    return out;
  }

 private:
  std::string path_;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// The line "  predicted: iteration X ms, ..." of a plan printout ("" when absent).
std::string predicted_line(const std::string& output) {
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line))
    if (contains(line, "predicted: iteration ")) return line;
  return "";
}

/// X of "predicted: iteration X ms" (negative when absent).
double predicted_ms(const std::string& output) {
  const std::string line = predicted_line(output);
  const std::string key = "predicted: iteration ";
  const size_t at = line.find(key);
  if (at == std::string::npos) return -1;
  return std::strtod(line.c_str() + at + key.size(), nullptr);
}

/// Asserts the failure shape of bad input: exit code 1, a single line "paratune <cmd>: ..." that
/// contains every one of `parts`, and the folder holding exactly `files` (no output, no
/// temporary file left behind).
::testing::AssertionResult bad_input(const Result& r, const std::string& cmd,
                                     const std::vector<std::string>& parts, const TempDir& dir,
                                     const std::set<std::string>& files) {
  if (r.code != 1) return ::testing::AssertionFailure() << "expected exit 1; " << r;
  const std::string head = "paratune " + cmd + ": ";
  if (r.output.compare(0, head.size(), head) != 0 || r.output.empty() || r.output.back() != '\n' ||
      std::count(r.output.begin(), r.output.end(), '\n') != 1)
    return ::testing::AssertionFailure() << "expected one line starting '" << head << "'; " << r;
  for (const std::string& p : parts)
    if (!contains(r.output, p))
      return ::testing::AssertionFailure() << "message lacks '" << p << "'; " << r;
  const std::set<std::string> now = dir.names();
  if (now != files) {
    std::string list;
    for (const auto& n : now) list += " " + n;
    return ::testing::AssertionFailure() << "folder holds" << list << " after a failure; " << r;
  }
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------------------------
// Inputs: a model profile and strategies for configs/models/tiny.json, written by hand.

Json layer_json(int tp, int dp, const char* dp_type = "ddp", bool checkpoint = false) {
  Json l;
  l["tp"] = tp;
  l["tp_consecutive"] = true;
  l["sp"] = false;
  l["dp"] = dp;
  l["dp_type"] = dp_type;
  l["checkpoint"] = checkpoint;
  return l;
}

/// tiny (4 layers) on 8 devices: 2 stages of 2 layers, tp2-dp2 layers, dp4 embedding, all ZeRO-2
/// (a Galvatron config has one dp type besides ZeRO-3, so export-galvatron accepts it too).
Json tiny_strategy() {
  Json s;
  s["format_version"] = 1;
  s["num_devices"] = 8;
  s["pp"] = 2;
  s["pp_division"] = {2, 2};
  s["micro_batches"] = 2;
  s["global_batch"] = 16;
  s["embedding"] = layer_json(1, 4, "zero2");
  s["layers"] = Json::array();
  for (int i = 0; i < 4; ++i) s["layers"].push_back(layer_json(2, 2, "zero2", i % 2 == 1));
  s["model_fingerprint"] = "";
  s["cluster_fingerprint"] = "";
  return s;
}

Json compute_point(int mb, int tp, double fwd, double bwd) {
  Json c;
  c["micro_batch"] = mb;
  c["tp"] = tp;
  c["forward_ms"] = fwd;
  c["backward_ms"] = bwd;
  return c;
}

Json activation_point(int tp, bool sp, double bytes) {
  Json a;
  a["tp"] = tp;
  a["sp"] = sp;
  a["bytes_per_sample"] = bytes;
  return a;
}

/// A measured-style profile of tiny (fingerprint of configs/models/tiny.json).
Json tiny_profile() {
  StatusOr<ModelConfig> tiny = load_model_config(kTiny);
  EXPECT_TRUE(tiny.ok()) << tiny.status().message();
  Json p;
  p["format_version"] = 1;
  p["model"] = "tiny";
  p["model_fingerprint"] = tiny.ok() ? fingerprint(*tiny) : "";
  p["source"] = "measured";
  p["device"] = "A100-SXM4-80GB";
  p["seq_len"] = 32;
  Json t;
  t["name"] = "transformer";
  t["param_count"] = 49984;
  t["compute"] = {compute_point(1, 1, 2.5, 5.0), compute_point(2, 1, 4.75, 9.5),
                  compute_point(1, 2, 1.5, 3.0)};
  t["activation"] = {activation_point(1, false, 65536), activation_point(2, false, 40960),
                     activation_point(2, true, 32768)};
  t["checkpoint_bytes_per_sample"] = 8192.0;
  Json e;
  e["name"] = "embedding";
  e["param_count"] = 18432;
  e["compute"] = {compute_point(1, 1, 0.0, 0.125)};
  e["activation"] = {activation_point(1, false, 8192)};
  e["checkpoint_bytes_per_sample"] = 0.0;
  Json h;
  h["name"] = "lm_head";
  h["param_count"] = 128;
  h["compute"] = Json::array();
  h["activation"] = Json::array();
  h["checkpoint_bytes_per_sample"] = 0.0;
  p["layer_types"] = {t, e, h};
  return p;
}

Json::json_pointer ptr(const std::string& p) {
  return Json::json_pointer(p);
}

/// JSON text of `j` whose value at `pointer` is replaced by the raw text `raw` (not valid JSON,
/// or a number out of range); `line` and `column` (1-based) say where `raw` starts.
struct RawEdit {
  std::string text;
  int line = 0;
  int column = 0;
  int line_length = 0;
};
RawEdit with_raw_value(Json j, const std::string& pointer, const std::string& raw) {
  const std::string sentinel = "\"@@paratune-cli-test@@\"";
  j[ptr(pointer)] = "@@paratune-cli-test@@";
  RawEdit e;
  e.text = dump_json(j);
  const size_t at = e.text.find(sentinel);
  const size_t line_start = e.text.rfind('\n', at) + 1;  // npos + 1 == 0 on the first line
  e.line = 1 + static_cast<int>(std::count(e.text.begin(), e.text.begin() + at, '\n'));
  e.column = 1 + static_cast<int>(at - line_start);
  e.text.replace(at, sentinel.size(), raw);
  e.line_length = static_cast<int>(e.text.find('\n', line_start) - line_start);
  return e;
}

/// Parses "<file>:<line>:<col>: <what>" out of `output`; false when `file:line:` is absent.
bool location(const std::string& output, const std::string& file, int line, int* col,
              std::string* rest) {
  const std::string head = file + ":" + std::to_string(line) + ":";
  const size_t at = output.find(head);
  if (at == std::string::npos) return false;
  const char* p = output.c_str() + at + head.size();
  char* end = nullptr;
  *col = static_cast<int>(std::strtol(p, &end, 10));
  if (end == p) return false;
  *rest = end;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Bad input, one file kind at a time: each kind is a base document that the binary accepts and a
// command that reads it. Every case edits one field of the base and expects the message to name
// the file and that exact field.

struct FileKind {
  std::string name;            // file written into the test folder
  std::string cmd;             // subcommand named in the message
  std::function<Json()> base;  // a document the command accepts
  // The command line reading `file`, writing its output (if any) to `out`.
  std::function<std::vector<std::string>(const std::string& file, const std::string& out)> args;
  bool writes_output = true;  // false: the command has no -o (estimate)
};

std::vector<std::string> search_args(const std::string& cluster, const std::string& model,
                                     const std::string& out) {
  return {"search", "--cluster",      cluster, "--model", model, "--memory-per-device",
          "8GiB",   "--global-batch", "16",    "-o",      out,   "--no-baselines"};
}

std::vector<FileKind> file_kinds() {
  std::vector<FileKind> k;
  k.push_back(
      {"model.json", "search", [] { return read_json(kTiny); },
       [](const std::string& f, const std::string& out) { return search_args(kCluster, f, out); }});
  k.push_back(
      {"cluster.json", "search", [] { return read_json(kCluster); },
       [](const std::string& f, const std::string& out) { return search_args(f, kTiny, out); }});
  k.push_back(
      {"profile.json", "search", tiny_profile, [](const std::string& f, const std::string& out) {
         std::vector<std::string> a = search_args(kCluster, kTiny, out);
         a.insert(a.end(), {"--profile", f});
         return a;
       }});
  k.push_back({"strategy.json", "estimate", tiny_strategy,
               [](const std::string& f, const std::string&) {
                 return std::vector<std::string>{"estimate", "--cluster",  kCluster, "--model",
                                                 kTiny,      "--strategy", f};
               },
               false});
  k.push_back({"strategy.json", "export-galvatron", tiny_strategy,
               [](const std::string& f, const std::string& out) {
                 return std::vector<std::string>{"export-galvatron", "--strategy", f, "-o", out};
               }});
  return k;
}

struct FieldEdit {
  std::string pointer;  // JSON pointer of the edited value
  std::string field;    // how the message names it
};

/// The fields each kind's cases edit: [0] unknown key added inside, [1] removed, [2] wrong type,
/// [3] negative, [4] 1e999 and malformed text.
struct KindCases {
  std::string kind;
  FieldEdit unknown, missing, wrong_type, negative, raw;
  Json wrong_value;
  Json negative_value;
};

std::vector<KindCases> kind_cases() {
  return {
      {"model.json",
       {"/flavour", "flavour"},
       {"/ffn_hidden", "ffn_hidden"},
       {"/hidden", "hidden"},
       {"/norm_eps", "norm_eps"},
       {"/heads", "heads"},
       Json("64"),
       Json(-1e-5)},
      {"cluster.json",
       {"/device/colour", "device.colour"},
       {"/device/flops_per_s", "device.flops_per_s"},
       {"/collectives/1/consecutive", "collectives[1].consecutive"},
       {"/p2p/0/latency_ms", "p2p[0].latency_ms"},
       {"/device/memory_bytes", "device.memory_bytes"},
       Json("yes"),
       Json(-0.01)},
      {"profile.json",
       {"/layer_types/0/compute/1/warmup_ms", "layer_types[0].compute[1].warmup_ms"},
       {"/layer_types/0/checkpoint_bytes_per_sample", "layer_types[0].checkpoint_bytes_per_sample"},
       {"/layer_types/0/param_count", "layer_types[0].param_count"},
       {"/layer_types/0/compute/2/backward_ms", "layer_types[0].compute[2].backward_ms"},
       {"/layer_types/0/activation/1/bytes_per_sample",
        "layer_types[0].activation[1].bytes_per_sample"},
       Json(499.5),
       Json(-3.0)},
      {"strategy.json",
       {"/layers/2/zero", "layers[2].zero"},
       {"/layers/3/tp", "layers[3].tp"},
       {"/layers/1/checkpoint", "layers[1].checkpoint"},
       {"/layers/0/dp", "layers[0].dp"},
       {"/layers/3/dp", "layers[3].dp"},
       Json(1),
       Json(-2)},
  };
}

std::string parent_pointer(const std::string& p) {
  return p.substr(0, p.rfind('/'));
}
std::string last_key(const std::string& p) {
  return p.substr(p.rfind('/') + 1);
}

class BadInput : public ::testing::Test {
 protected:
  /// Runs kind `k` on `doc`/`text` and checks the failure names `parts`.
  void expect_rejected(const FileKind& k, const std::string& text, const std::string& what,
                       const std::vector<std::string>& parts) {
    SCOPED_TRACE(k.cmd + " reading " + k.name + ": " + what);
    TempDir dir;
    const std::string file = dir.write(k.name, text);
    const Result r = run(k.args(file, dir.file("out.json")));
    std::vector<std::string> all = {file};
    all.insert(all.end(), parts.begin(), parts.end());
    EXPECT_TRUE(bad_input(r, k.cmd, all, dir, {k.name}));
  }
};

TEST_F(BadInput, BaseDocumentsAreAccepted) {
  // Controls: without an edit, every command of the cases below succeeds.
  for (const FileKind& k : file_kinds()) {
    SCOPED_TRACE(k.cmd + " reading " + k.name);
    TempDir dir;
    const std::string file = dir.write(k.name, k.base());
    const Result r = run(k.args(file, dir.file("out.json")));
    EXPECT_EQ(r.code, 0) << r;
    if (k.writes_output) {
      EXPECT_TRUE(fs::exists(dir.file("out.json"))) << r;
    }
  }
}

TEST_F(BadInput, MalformedJsonNamesLineAndColumn) {
  for (const FileKind& k : file_kinds()) {
    for (const KindCases& c : kind_cases()) {
      if (c.kind != k.name) continue;
      // "heads": tru,  -> a syntax error on the line of that field.
      const RawEdit e = with_raw_value(k.base(), c.raw.pointer, "tru");
      SCOPED_TRACE(k.cmd + " reading " + k.name + ": malformed at line " + std::to_string(e.line));
      TempDir dir;
      const std::string file = dir.write(k.name, e.text);
      const Result r = run(k.args(file, dir.file("out.json")));
      EXPECT_TRUE(bad_input(r, k.cmd, {file + ":", "malformed JSON"}, dir, {k.name}));
      int col = 0;
      std::string rest;
      ASSERT_TRUE(location(r.output, file, e.line, &col, &rest)) << r;
      EXPECT_GE(col, e.column) << r;
      EXPECT_LE(col, e.line_length + 1) << r;
      EXPECT_EQ(rest.compare(0, 17, ": malformed JSON:"), 0) << r;
    }
  }
  // Truncated file: the error points past the last line.
  for (const FileKind& k : file_kinds()) {
    std::string text = dump_json(k.base());
    text.resize(text.size() / 2);
    TempDir dir;
    const std::string file = dir.write(k.name, text);
    const Result r = run(k.args(file, dir.file("out.json")));
    EXPECT_TRUE(bad_input(r, k.cmd, {file + ":", "malformed JSON"}, dir, {k.name}));
  }
}

TEST_F(BadInput, UnknownField) {
  for (const FileKind& k : file_kinds())
    for (const KindCases& c : kind_cases()) {
      if (c.kind != k.name) continue;
      Json j = k.base();
      j[ptr(parent_pointer(c.unknown.pointer))][last_key(c.unknown.pointer)] = 1;
      expect_rejected(k, dump_json(j), "unknown " + c.unknown.field,
                      {"field \"" + c.unknown.field + "\": unknown field"});
    }
}

TEST_F(BadInput, MissingField) {
  for (const FileKind& k : file_kinds())
    for (const KindCases& c : kind_cases()) {
      if (c.kind != k.name) continue;
      Json j = k.base();
      ASSERT_EQ(j[ptr(parent_pointer(c.missing.pointer))].erase(last_key(c.missing.pointer)), 1u)
          << c.missing.pointer;
      expect_rejected(k, dump_json(j), "missing " + c.missing.field,
                      {"field \"" + c.missing.field + "\": missing"});
    }
}

TEST_F(BadInput, WrongType) {
  for (const FileKind& k : file_kinds())
    for (const KindCases& c : kind_cases()) {
      if (c.kind != k.name) continue;
      Json j = k.base();
      ASSERT_TRUE(j.contains(ptr(c.wrong_type.pointer))) << c.wrong_type.pointer;
      j[ptr(c.wrong_type.pointer)] = c.wrong_value;
      expect_rejected(k, dump_json(j), "wrong type " + c.wrong_type.field,
                      {"field \"" + c.wrong_type.field + "\": expected ", c.wrong_value.dump()});
    }
}

TEST_F(BadInput, NegativeNumber) {
  for (const FileKind& k : file_kinds())
    for (const KindCases& c : kind_cases()) {
      if (c.kind != k.name) continue;
      Json j = k.base();
      ASSERT_TRUE(j.contains(ptr(c.negative.pointer))) << c.negative.pointer;
      j[ptr(c.negative.pointer)] = c.negative_value;
      expect_rejected(k, dump_json(j), "negative " + c.negative.field,
                      {"field \"" + c.negative.field + "\": must be >= ", c.negative_value.dump()});
    }
}

TEST_F(BadInput, OutOfRangeNumber) {
  // 1e999 does not fit a double: the message points at the exact line and column of the value.
  for (const FileKind& k : file_kinds())
    for (const KindCases& c : kind_cases()) {
      if (c.kind != k.name) continue;
      for (const std::string raw : {"1e999", "-1e999"}) {
        const RawEdit e = with_raw_value(k.base(), c.raw.pointer, raw);
        SCOPED_TRACE(k.cmd + " reading " + k.name + ": " + c.raw.field + " = " + raw);
        TempDir dir;
        const std::string file = dir.write(k.name, e.text);
        const Result r = run(k.args(file, dir.file("out.json")));
        EXPECT_TRUE(
            bad_input(r, k.cmd, {file + ":", "number " + raw + " is out of range"}, dir, {k.name}));
        int col = 0;
        std::string rest;
        ASSERT_TRUE(location(r.output, file, e.line, &col, &rest)) << r;
        EXPECT_EQ(col, e.column) << r;
        // That line is the field's own: "  \"<key>\": 1e999".
        std::istringstream in(e.text);
        std::string line;
        for (int i = 0; i < e.line; ++i) std::getline(in, line);
        EXPECT_TRUE(contains(line, "\"" + last_key(c.raw.pointer) + "\": " + raw)) << line;
      }
    }
}

TEST_F(BadInput, ProfileOfAnotherModel) {
  TempDir dir;
  const std::string file = dir.write("profile.json", tiny_profile());
  std::vector<std::string> a = search_args(kCluster, kGptSmall, dir.file("out.json"));
  a.insert(a.end(), {"--profile", file});
  EXPECT_TRUE(bad_input(run(a), "search", {file, "field \"model_fingerprint\"", kGptSmall}, dir,
                        {"profile.json"}));
  // Without a fingerprint the profile may belong to any model, but the sequence length must match.
  Json p = tiny_profile();
  p["model_fingerprint"] = "";
  dir.write("profile.json", p);
  EXPECT_TRUE(bad_input(run(a), "search", {file, "field \"seq_len\"", "32", "1024"}, dir,
                        {"profile.json"}));
}

TEST_F(BadInput, MissingFile) {
  TempDir dir;
  const std::string missing = dir.file("no-such-model.json");
  EXPECT_TRUE(bad_input(run(search_args(kCluster, missing, dir.file("out.json"))), "search",
                        {missing, "cannot open"}, dir, {}));
}

// ---------------------------------------------------------------------------------------------
// Device counts, pipeline stages, TP degrees.

TEST(DeviceCounts, SearchDevicesMustFitTheCluster) {
  TempDir dir;
  const std::string out = dir.file("out.json");
  std::vector<std::string> a = search_args(kCluster, kTiny, out);
  a.insert(a.end(), {"--devices", "16"});
  EXPECT_TRUE(bad_input(run(a), "search", {kCluster, "--devices 16", "does not fit", "8 devices"},
                        dir, {}));
  a.back() = "6";
  EXPECT_TRUE(bad_input(run(a), "search", {kCluster, "--devices 6", "power of two"}, dir, {}));
  a.back() = "-2";
  EXPECT_TRUE(bad_input(run(a), "search", {"--devices", ">= 0"}, dir, {}));
  // Control: a power of two inside the cluster is planned for.
  a.back() = "4";
  const Result ok = run(a);
  ASSERT_EQ(ok.code, 0) << ok;
  EXPECT_EQ(read_json(out)["num_devices"], 4);
}

TEST(DeviceCounts, EstimateStrategyMustFitTheCluster) {
  TempDir dir;
  Json s = tiny_strategy();
  s["num_devices"] = 16;  // 2 stages of 8: tp2-dp4 layers, dp8 embedding
  for (auto& l : s["layers"]) l["dp"] = 4;
  s["embedding"]["dp"] = 8;
  const std::string file = dir.write("strategy.json", s);
  EXPECT_TRUE(
      bad_input(run({"estimate", "--cluster", kCluster, "--model", kTiny, "--strategy", file}),
                "estimate", {file, "field \"num_devices\"", "16", "(8)"}, dir, {"strategy.json"}));
  // The same plan on two nodes is fine.
  const Result ok = run({"estimate", "--cluster", "configs/clusters/a100-80gb-2x8.json", "--model",
                         kTiny, "--strategy", file});
  EXPECT_EQ(ok.code, 0) << ok;
}

TEST(StrategyVersusModel, FewerLayersThanPipelineStages) {
  TempDir dir;
  Json s = tiny_strategy();  // tiny has 4 layers
  s["pp"] = 8;
  s["pp_division"] = {1, 1, 1, 1, 1, 1, 1, 1};
  s["micro_batches"] = 16;
  s["embedding"] = layer_json(1, 1);
  for (auto& l : s["layers"]) l = layer_json(1, 1);
  const std::string file = dir.write("strategy.json", s);
  const std::vector<std::string> parts = {file, "field \"pp\"", "fewer layers (4)",
                                          "pipeline stages (8)"};
  EXPECT_TRUE(
      bad_input(run({"estimate", "--cluster", kCluster, "--model", kTiny, "--strategy", file}),
                "estimate", parts, dir, {"strategy.json"}));
  EXPECT_TRUE(bad_input(run({"export-galvatron", "--strategy", file, "-o", dir.file("g.json")}),
                        "export-galvatron", parts, dir, {"strategy.json"}));
}

TEST(StrategyVersusModel, TpMustDivideHeads) {
  // gpt-small has 12 heads: tp 8 on layer 5 does not divide them.
  TempDir dir;
  Json s;
  s["format_version"] = 1;
  s["num_devices"] = 8;
  s["pp"] = 1;
  s["pp_division"] = {12};
  s["micro_batches"] = 1;
  s["global_batch"] = 16;
  s["embedding"] = layer_json(1, 8);
  s["layers"] = Json::array();
  for (int i = 0; i < 12; ++i) s["layers"].push_back(i == 5 ? layer_json(8, 1) : layer_json(1, 8));
  s["model_fingerprint"] = "";
  s["cluster_fingerprint"] = "";
  const std::string file = dir.write("strategy.json", s);
  const std::vector<std::string> est = {"estimate", "--cluster",  kCluster, "--model",
                                        kGptSmall,  "--strategy", file};
  EXPECT_TRUE(bad_input(run(est), "estimate",
                        {file, "field \"layers[5].tp\"", "tp 8 does not divide", "heads (12)"}, dir,
                        {"strategy.json"}));
  // Control: tp 4 divides 12.
  s["layers"][5] = layer_json(4, 2);
  dir.write("strategy.json", s);
  const Result ok = run(est);
  EXPECT_EQ(ok.code, 0) << ok;
}

/// The limit suggested by "... (--memory-per-device 140288MiB)": the flag's text and its bytes
/// ("" and 0 when absent).
std::pair<std::string, double> suggested_limit(const std::string& output) {
  const std::string key = "(--memory-per-device ";
  const size_t at = output.find(key);
  if (at == std::string::npos) return {"", 0};
  const size_t close = output.find(')', at);
  if (close == std::string::npos) return {"", 0};
  const std::string text = output.substr(at + key.size(), close - at - key.size());
  char* end = nullptr;
  const double amount = std::strtod(text.c_str(), &end);
  const std::string unit = end;
  if (!(amount > 0) || (unit != "MiB" && unit != "KiB")) return {"", 0};
  return {text, amount * (unit == "MiB" ? 1024.0 * 1024 : 1024.0)};
}

TEST(NoFeasiblePlan, SuggestedLimitIsRight) {
  TempDir dir;
  const std::string out = dir.file("out.json");
  auto args = [&](const std::string& mem) {
    return std::vector<std::string>{
        "search", "--cluster",      kCluster, "--model", kLlama70b, "--memory-per-device",
        mem,      "--global-batch", "8",      "-o",      out,       "--no-baselines"};
  };
  const Result r = run(args("1GiB"));
  ASSERT_TRUE(bad_input(
      r, "search",
      {"no plan fits in 1.00 GiB", "smallest limit that works", "(--memory-per-device "}, dir, {}));
  const auto [text, bytes] = suggested_limit(r.output);
  ASSERT_GT(bytes, 0) << r;

  // The suggested limit works, and the plan's peak fits it.
  const Result ok = run(args(text));
  ASSERT_EQ(ok.code, 0) << "suggested " << text << ": " << ok;
  const Json plan = read_json(out);
  ASSERT_TRUE(plan.contains("predicted")) << read_text(out);
  for (const auto& peak : plan["predicted"]["stage_peak_memory_bytes"])
    EXPECT_LE(peak.get<double>(), bytes);
  fs::remove(out);

  // 90% of it does not, and that failure suggests the same limit again (both searches bisect to
  // 1%, so the two suggestions lie within about 1% of each other).
  const Result no = run(args(std::to_string(static_cast<long long>(0.9 * bytes))));
  EXPECT_TRUE(bad_input(no, "search", {"no plan fits", "smallest limit that works"}, dir, {}));
  const double again = suggested_limit(no.output).second;
  EXPECT_NEAR(again, bytes, 0.015 * bytes) << r << no;
}

// ---------------------------------------------------------------------------------------------
// Usage: commands, flags, help.

TEST(Usage, UnknownCommand) {
  const Result r = run({"frobnicate"});
  EXPECT_NE(r.code, 0) << r;
  EXPECT_TRUE(contains(r.output, "unknown command 'frobnicate'")) << r;
  EXPECT_TRUE(contains(r.output, "--help")) << r;
  const Result none = run({});
  EXPECT_NE(none.code, 0) << none;
  EXPECT_TRUE(contains(none.output, "usage: paratune")) << none;
}

TEST(Usage, UnknownFlag) {
  TempDir dir;
  for (const std::string cmd : {"search", "estimate", "import-galvatron", "export-galvatron"}) {
    const Result r = run({cmd, "--frobnicate", "-o", dir.file("out.json")});
    EXPECT_NE(r.code, 0) << cmd << ": " << r;
    EXPECT_TRUE(contains(r.output, "paratune " + cmd + ": ")) << r;
    EXPECT_TRUE(contains(r.output, "frobnicate")) << r;
    EXPECT_TRUE(dir.names().empty()) << r;
  }
}

TEST(Usage, MissingRequiredFlag) {
  TempDir dir;
  const std::string out = dir.file("out.json");
  // search: each of the five required flags in turn.
  const std::vector<std::pair<std::string, std::string>> full = {{"--cluster", kCluster},
                                                                 {"--model", kTiny},
                                                                 {"--memory-per-device", "8GiB"},
                                                                 {"--global-batch", "16"},
                                                                 {"--output", out}};
  for (size_t drop = 0; drop < full.size(); ++drop) {
    std::vector<std::string> a = {"search"};
    for (size_t i = 0; i < full.size(); ++i)
      if (i != drop) a.insert(a.end(), {full[i].first, full[i].second});
    const Result r = run(a);
    EXPECT_TRUE(bad_input(r, "search", {full[drop].first + " is required"}, dir, {}));
  }
  for (const std::string flag : {"--cluster", "--model", "--strategy"}) {
    std::vector<std::string> a = {"estimate"};
    if (flag != "--cluster") a.insert(a.end(), {"--cluster", kCluster});
    if (flag != "--model") a.insert(a.end(), {"--model", kTiny});
    if (flag != "--strategy") a.insert(a.end(), {"--strategy", "strategy.json"});
    EXPECT_TRUE(bad_input(run(a), "estimate", {flag + " is required"}, dir, {}));
  }
  EXPECT_TRUE(bad_input(run({"import-galvatron", "--strategy", kGalvatronConfig}),
                        "import-galvatron", {"--output is required"}, dir, {}));
  EXPECT_TRUE(bad_input(run({"import-galvatron", "-o", out}), "import-galvatron",
                        {"exactly one of --hardware, --computation/--memory, --strategy"}, dir,
                        {}));
  EXPECT_TRUE(bad_input(
      run({"import-galvatron", "--computation", "c.json", "--memory", "m.json", "-o", out}),
      "import-galvatron", {"--model is required"}, dir, {}));
  EXPECT_TRUE(bad_input(run({"export-galvatron", "-o", out}), "export-galvatron",
                        {"--strategy", "required"}, dir, {}));
}

TEST(Usage, BadFlagValues) {
  TempDir dir;
  const std::string out = dir.file("out.json");
  auto args = [&](const std::string& mem, const std::string& batch) {
    return std::vector<std::string>{
        "search", "--cluster",      kCluster, "--model", kTiny, "--memory-per-device",
        mem,      "--global-batch", batch,    "-o",      out};
  };
  EXPECT_TRUE(bad_input(run(args("12XB", "16")), "search",
                        {"--memory-per-device", "unknown unit 'XB'"}, dir, {}));
  EXPECT_TRUE(
      bad_input(run(args("-1GiB", "16")), "search", {"--memory-per-device", "-1GiB"}, dir, {}));
  EXPECT_TRUE(bad_input(run(args("8GiB", "0")), "search", {"--global-batch", "'0'"}, dir, {}));
  EXPECT_TRUE(bad_input(run(args("8GiB", "64:8")), "search", {"--global-batch", "64:8"}, dir, {}));
  std::vector<std::string> a = args("8GiB", "16");
  a.insert(a.end(), {"--space", "everything"});
  EXPECT_TRUE(bad_input(run(a), "search", {"--space", "everything"}, dir, {}));
}

/// True when `help` lists `flag` as a flag ("--flag arg", "--flag  text", "-o, --output").
bool lists_flag(const std::string& help, const std::string& flag) {
  for (size_t at = help.find(flag); at != std::string::npos; at = help.find(flag, at + 1)) {
    const char next = at + flag.size() < help.size() ? help[at + flag.size()] : '\n';
    if (next == ' ' || next == '\n' || next == ',' || next == '=') return true;
  }
  return false;
}

TEST(Usage, HelpMentionsEveryCommandAndFlag) {
  for (const std::string h : {"--help", "-h", "help"}) {
    const Result r = run({h});
    EXPECT_EQ(r.code, 0) << r;
    for (const char* cmd : {"search", "estimate", "import-galvatron", "export-galvatron"})
      EXPECT_TRUE(contains(r.output, std::string("  ") + cmd + " ")) << cmd << ": " << r;
  }
  const std::vector<std::pair<std::string, std::vector<std::string>>> flags = {
      {"search",
       {"--cluster", "--model", "--profile", "--memory-per-device", "--global-batch", "--devices",
        "-o,", "--output", "--space", "--max-tp", "--no-checkpoint", "--max-micro-batches",
        "--memory-buckets", "--threads", "--no-baselines", "--per-layer", "--help"}},
      {"estimate",
       {"--cluster", "--model", "--profile", "--strategy", "--galvatron", "--devices",
        "--memory-per-device", "--per-layer", "--help"}},
      {"import-galvatron",
       {"--hardware", "--nodes", "--gpus-per-node", "--computation", "--memory", "--model",
        "--strategy", "--devices", "--sequence-parallel", "-o,", "--output", "--help"}},
      {"export-galvatron", {"--strategy", "-o,", "--output", "--help"}},
  };
  for (const auto& [cmd, fl] : flags) {
    for (const std::string h : {"--help", "-h"}) {
      const Result r = run({cmd, h});
      EXPECT_EQ(r.code, 0) << cmd << " " << h << ": " << r;
      for (const std::string& f : fl)
        EXPECT_TRUE(f == "-o," ? contains(r.output, "-o, --output") : lists_flag(r.output, f))
            << cmd << " --help lacks " << f << ":\n"
            << r.output;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Working runs.

std::vector<std::string> gpt_small_search(const std::string& out) {
  return {"search", "--cluster",      kCluster, "--model", kGptSmall, "--memory-per-device",
          "8GiB",   "--global-batch", "16",     "-o",      out};
}

TEST(Plan, SearchThenEstimateAgree) {
  TempDir dir;
  const std::string out = dir.file("strategy.json");
  const Result s = run(gpt_small_search(out));
  ASSERT_EQ(s.code, 0) << s;
  ASSERT_TRUE(fs::exists(out));
  EXPECT_TRUE(contains(s.output, "plan (written to " + out + ")")) << s;
  EXPECT_TRUE(contains(s.output, "baselines")) << s;
  const double searched = predicted_ms(s.output);
  ASSERT_GT(searched, 0) << s;

  const Result e = run({"estimate", "--cluster", kCluster, "--model", kGptSmall, "--strategy", out,
                        "--memory-per-device", "8GiB"});
  ASSERT_EQ(e.code, 0) << e;
  EXPECT_EQ(predicted_ms(e.output), searched) << s << e;
  // Throughput, peak memory and profile source agree too.
  EXPECT_EQ(predicted_line(e.output), predicted_line(s.output)) << s << e;
  EXPECT_TRUE(contains(e.output, "fits 8.00 GiB: yes")) << e;
  // The prediction stored in the file is the printed one.
  const Json plan = read_json(out);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", plan["predicted"]["iteration_ms"].get<double>());
  EXPECT_TRUE(contains(predicted_line(s.output), std::string("iteration ") + buf + " ms")) << s;
}

TEST(Plan, SearchIsDeterministic) {
  TempDir dir;
  const Result a = run(gpt_small_search(dir.file("a.json")));
  ASSERT_EQ(a.code, 0) << a;
  const Result b = run(gpt_small_search(dir.file("b.json")));
  ASSERT_EQ(b.code, 0) << b;
  std::vector<std::string> one = gpt_small_search(dir.file("c.json"));
  one.insert(one.end(), {"--threads", "1"});
  const Result c = run(one);
  ASSERT_EQ(c.code, 0) << c;
  const std::string first = read_text(dir.file("a.json"));
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first, read_text(dir.file("b.json")));
  EXPECT_EQ(first, read_text(dir.file("c.json"))) << "one thread vs all threads";
  EXPECT_EQ(dir.names(), (std::set<std::string>{"a.json", "b.json", "c.json"}));
}

TEST(Plan, BaselinesDirIsMadeAndAFailedWriteLeavesNothing) {
  TempDir dir;
  // A missing folder (two levels) is made; every fitting baseline is written there.
  std::vector<std::string> a = gpt_small_search(dir.file("a.json"));
  a.insert(a.end(), {"--baselines-dir", dir.file("base/lines")});
  const Result s = run(a);
  ASSERT_EQ(s.code, 0) << s;
  auto names_in = [](const std::string& folder) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(folder)) out.insert(e.path().filename().string());
    return out;
  };
  const std::set<std::string> baselines = names_in(dir.file("base/lines"));
  ASSERT_FALSE(baselines.empty()) << s;
  for (const std::string& b : baselines) {
    EXPECT_TRUE(contains(s.output, "-> " + dir.file("base/lines") + "/" + b)) << s;
    EXPECT_TRUE(read_json(dir.file("base/lines/" + b)).contains("layers")) << b;
  }

  // A file where the folder should be: refused before anything is written.
  dir.write("plain", std::string("x"));
  std::vector<std::string> b = gpt_small_search(dir.file("b.json"));
  b.insert(b.end(), {"--baselines-dir", dir.file("plain")});
  const Result f = run(b);
  EXPECT_EQ(f.code, 1) << f;
  EXPECT_TRUE(contains(f.output, "--baselines-dir " + dir.file("plain"))) << f;
  EXPECT_FALSE(fs::exists(dir.file("b.json"))) << f;

  // A baseline that cannot be written (a folder holds its name): the strategy written before it
  // is removed again, and the error names the file.
  fs::create_directories(dir.file("busy/" + *baselines.rbegin()));
  std::vector<std::string> c = gpt_small_search(dir.file("c.json"));
  c.insert(c.end(), {"--baselines-dir", dir.file("busy")});
  const Result g = run(c);
  EXPECT_EQ(g.code, 1) << g;
  EXPECT_TRUE(contains(g.output, dir.file("busy/" + *baselines.rbegin()))) << g;
  EXPECT_FALSE(fs::exists(dir.file("c.json"))) << g;
  EXPECT_EQ(names_in(dir.file("busy")), std::set<std::string>{*baselines.rbegin()}) << g;
}

TEST(Plan, MeasuredProfileIsUsed) {
  TempDir dir;
  const std::string prof = dir.write("profile.json", tiny_profile());
  const std::string out = dir.file("strategy.json");
  std::vector<std::string> a = search_args(kCluster, kTiny, out);
  a.insert(a.end(), {"--profile", prof});
  const Result s = run(a);
  ASSERT_EQ(s.code, 0) << s;
  EXPECT_TRUE(contains(predicted_line(s.output), "(profile: measured)")) << s;
  const Result e = run(
      {"estimate", "--cluster", kCluster, "--model", kTiny, "--profile", prof, "--strategy", out});
  ASSERT_EQ(e.code, 0) << e;
  EXPECT_EQ(predicted_line(e.output), predicted_line(s.output)) << s << e;
}

TEST(Galvatron, ImportExportRoundTrip) {
  if (!fs::is_directory(kA800)) GTEST_SKIP() << kA800 << " is not present";
  TempDir dir;
  const std::string cluster = dir.file("a800.json"), profile = dir.file("llama2-7b.profile.json"),
                    strategy = dir.file("strategy.json"), exported = dir.file("galvatron.json"),
                    again = dir.file("strategy2.json");
  const std::string model = "configs/models/llama2-7b.json";
  const std::string data = kA800;

  Result r = run({"import-galvatron", "--hardware", data + "/hardware", "--nodes", "1",
                  "--gpus-per-node", "8", "-o", cluster});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(read_json(cluster)["source"], "galvatron-import");
  r = run({"import-galvatron", "--computation",
           data + "/llama2-7b/computation_profiling_bf16_llama2-7b_all.json", "--memory",
           data + "/llama2-7b/memory_profiling_bf16_llama2-7b_all.json", "--model", model, "-o",
           profile});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(read_json(profile)["source"], "galvatron-import");
  r = run({"import-galvatron", "--strategy", kGalvatronConfig, "--devices", "8", "-o", strategy});
  ASSERT_EQ(r.code, 0) << r;
  const Json s = read_json(strategy);
  EXPECT_EQ(s["pp"], 2);
  EXPECT_EQ(s["num_devices"], 8);
  EXPECT_EQ(s["layers"].size(), 32u);

  // The imported strategy and the Galvatron config itself estimate the same on imported inputs.
  const Result e1 = run({"estimate", "--cluster", cluster, "--model", model, "--profile", profile,
                         "--strategy", strategy});
  ASSERT_EQ(e1.code, 0) << e1;
  EXPECT_TRUE(contains(predicted_line(e1.output), "(profile: galvatron-import)")) << e1;
  const Result e2 = run({"estimate", "--cluster", cluster, "--model", model, "--profile", profile,
                         "--strategy", kGalvatronConfig, "--galvatron", "--devices", "8"});
  ASSERT_EQ(e2.code, 0) << e2;
  EXPECT_EQ(predicted_line(e1.output), predicted_line(e2.output)) << e1 << e2;

  // export -> import gives back the same strategy.json, byte for byte.
  r = run({"export-galvatron", "--strategy", strategy, "-o", exported});
  ASSERT_EQ(r.code, 0) << r;
  r = run({"import-galvatron", "--strategy", exported, "--devices", "8", "-o", again});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(read_text(again), read_text(strategy));
  EXPECT_EQ(dir.names(),
            (std::set<std::string>{"a800.json", "llama2-7b.profile.json", "strategy.json",
                                   "galvatron.json", "strategy2.json"}));

  // Bad Galvatron input: a field of the config, named with the file.
  Json g = read_json(kGalvatronConfig);
  g["pp_deg"] = "two";
  const std::string bad = dir.write("bad-galvatron.json", g);
  EXPECT_TRUE(bad_input(
      run({"import-galvatron", "--strategy", bad, "--devices", "8", "-o", dir.file("out.json")}),
      "import-galvatron", {bad, "pp_deg"}, dir,
      {"a800.json", "llama2-7b.profile.json", "strategy.json", "galvatron.json", "strategy2.json",
       "bad-galvatron.json"}));
}

}  // namespace
}  // namespace paratune

// ---------------------------------------------------------------------------------------------
// report: a searched plan's prediction against a run's metrics.

namespace paratune {
namespace {

TEST(Report, ComparesPredictionWithMetrics) {
  TempDir dir;
  const std::string s = dir.file("s.json");
  const Result r = run({"search", "--cluster", kCluster, "--model", kTiny, "--memory-per-device",
                        "8GiB", "--global-batch", "16", "--devices", "2", "-o", s,
                        "--no-baselines"});
  ASSERT_EQ(r.code, 0) << r;
  const Json plan = read_json(s);
  const double pred = plan["predicted"]["iteration_ms"].get<double>();
  const int n = plan["num_devices"].get<int>(), pp = plan["pp"].get<int>();
  // Measured: warm-up steps far off, then 2 * pred, 2 * pred, 4 * pred -> median 2 * pred.
  Json steps = Json::array();
  for (double f : {50.0, 50.0, 2.0, 2.0, 4.0}) steps.push_back({{"ms", f * pred}});
  Json peaks = Json::array();
  for (int i = 0; i < n; ++i) peaks.push_back(int64_t(1) << 30);  // 1 GiB each
  const std::string m = dir.write("m.json", dump_json(Json{{"steps", steps}, {"peak_memory_bytes", peaks}}));
  const Result rep = run({"report", "--strategy", s, "--metrics", m});
  ASSERT_EQ(rep.code, 0) << rep;
  EXPECT_TRUE(contains(rep.output, "median of 3 steps after 2 warm-up")) << rep;
  EXPECT_TRUE(contains(rep.output, "-50.0%")) << rep;  // predicted is half the measured median
  EXPECT_TRUE(contains(rep.output, "1.00 GiB")) << rep;
  EXPECT_TRUE(contains(rep.output, "stage " + std::to_string(pp - 1) + " peak memory")) << rep;

  // Bad metrics name the file and the field; too few steps and a rank-count mismatch too.
  const std::string bad = dir.write("bad.json", dump_json(Json{{"steps", Json::array({{{"ms", -1}}})},
                                                                {"peak_memory_bytes", peaks}}));
  const Result b = run({"report", "--strategy", s, "--metrics", bad});
  EXPECT_EQ(b.code, 1) << b;
  EXPECT_TRUE(contains(b.output, "bad.json") && contains(b.output, "steps[0].ms")) << b;
  const Result few = run({"report", "--strategy", s, "--metrics", m, "--warmup", "5"});
  EXPECT_EQ(few.code, 1) << few;
  EXPECT_TRUE(contains(few.output, "\"steps\"")) << few;
  Json wrong = read_json(m);
  wrong["peak_memory_bytes"].push_back(0);
  const std::string w = dir.write("w.json", dump_json(wrong));
  const Result wr = run({"report", "--strategy", s, "--metrics", w});
  EXPECT_EQ(wr.code, 1) << wr;
  EXPECT_TRUE(contains(wr.output, "peak_memory_bytes")) << wr;
  // A hand-written strategy has no prediction to compare.
  Json bare = plan;
  bare.erase("predicted");
  const std::string h = dir.write("h.json", dump_json(bare));
  const Result hr = run({"report", "--strategy", h, "--metrics", m});
  EXPECT_EQ(hr.code, 1) << hr;
  EXPECT_TRUE(contains(hr.output, "\"predicted\"")) << hr;
}

}  // namespace
}  // namespace paratune
