// Strict JSON reading with errors that name the file and the field.
//
// Every format of paratune (model config, cluster profile, model profile, strategy) is read
// through an ObjectReader: each getter marks its key as known, checks the type and range, and
// records the first error as "<file>: field \"a.b[2].c\": <what is wrong>". finish() then rejects
// unknown keys. Errors are shared between nested readers, so one Status comes out at the end.
//
//   ObjectReader r(json, "cluster.json");
//   int n = r.integer("num_devices", 1);
//   ObjectReader dev = r.object("device");
//   double mem = dev.number("memory_bytes");
//   dev.finish(); PARATUNE_RETURN_IF_ERROR(r.finish());
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace paratune {

using Json = nlohmann::ordered_json;

/// Reads and parses a JSON file; a parse error names the file, line and column.
StatusOr<Json> read_json_file(const std::string& path);
/// Writes `text` to `path` atomically (temp file + rename): a failure leaves no partial file.
Status write_file_atomic(const std::string& path, const std::string& text);
/// Serialises with 2-space indentation and a trailing newline (deterministic).
std::string dump_json(const Json& j);

class ObjectReader {
 public:
  /// `file` names the source in messages; `path` is the JSON path of `j` ("" for the root).
  ObjectReader(const Json& j, std::string file, std::string path = "");

  bool has(const char* key) const;
  /// A finite number >= min (default 0: negative values are rejected).
  double number(const char* key, double min = 0.0,
                double max = std::numeric_limits<double>::max());
  double number_or(const char* key, double fallback, double min = 0.0,
                   double max = std::numeric_limits<double>::max());
  int64_t integer(const char* key, int64_t min = 0,
                  int64_t max = std::numeric_limits<int64_t>::max());
  int64_t integer_or(const char* key, int64_t fallback, int64_t min = 0,
                     int64_t max = std::numeric_limits<int64_t>::max());
  std::string string(const char* key);
  std::string string_or(const char* key, const std::string& fallback);
  /// One of `allowed`; the message lists them.
  std::string enumeration(const char* key, const std::vector<std::string>& allowed);
  std::string enumeration_or(const char* key, const std::vector<std::string>& allowed,
                             const std::string& fallback);
  bool boolean(const char* key);
  bool boolean_or(const char* key, bool fallback);
  ObjectReader object(const char* key);
  /// Readers for each element of an array of objects (empty on error).
  std::vector<ObjectReader> objects(const char* key, size_t min_size = 0);
  std::vector<double> numbers(const char* key, double min = 0.0);
  std::vector<int64_t> integers(const char* key, int64_t min = 0);
  /// Raw access for irregular content (marks the key known); null Json when missing (error).
  const Json& raw(const char* key);
  /// Checks "format_version" equals `expected`.
  void format_version(int expected);

  /// Records an error for `key` (or for this object when key is empty) unless one exists.
  void fail(const std::string& key, const std::string& what);
  /// Rejects unknown keys of this object, returns the first error of the whole read.
  Status finish();
  bool ok() const { return state_->status.ok(); }
  const std::string& file() const { return state_->file; }
  std::string field(const std::string& key) const;

 private:
  struct State {
    std::string file;
    Status status;
  };
  ObjectReader(const Json& j, std::shared_ptr<State> state, std::string path);
  const Json* find(const char* key, bool required);

  const Json* j_;
  std::shared_ptr<State> state_;
  std::string path_;
  std::vector<std::string> known_;
};

}  // namespace paratune
