#include "core/json_reader.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace paratune {

StatusOr<Json> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Translate the byte offset into line:column for people.
    size_t line = 1, col = 1;
    for (size_t i = 0; i < text.size() && i + 1 < e.byte; ++i) {
      if (text[i] == '\n') { ++line; col = 1; } else { ++col; }
    }
    std::string what = e.what();
    const size_t pos = what.find("syntax error");
    if (pos != std::string::npos) what = what.substr(pos);
    return InvalidArgument(path + ":" + std::to_string(line) + ":" + std::to_string(col) +
                           ": malformed JSON: " + what);
  } catch (const nlohmann::json::exception& e) {
    // e.g. a number too large for a double (1e999): find it to point at its line and column.
    size_t line = 1, col = 1;
    for (size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      const bool starts = (c == '-' || (c >= '0' && c <= '9')) &&
                          (i == 0 || text[i - 1] == ' ' || text[i - 1] == ':' ||
                           text[i - 1] == '[' || text[i - 1] == ',' || text[i - 1] == '\n' ||
                           text[i - 1] == '\t');
      if (starts) {
        size_t j = i;
        while (j < text.size() && std::strchr("+-.eE0123456789", text[j])) ++j;
        const std::string tok = text.substr(i, j - i);
        if (!std::isfinite(std::strtod(tok.c_str(), nullptr)))
          return InvalidArgument(path + ":" + std::to_string(line) + ":" + std::to_string(col) +
                                 ": number " + tok + " is out of range");
      }
      if (c == '\n') { ++line; col = 1; } else { ++col; }
    }
    return InvalidArgument(path + ": malformed JSON: " + e.what());
  }
}

Status write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return InvalidArgument(path + ": cannot write file: " + std::strerror(errno));
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return InvalidArgument(path + ": write failed");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return InvalidArgument(path + ": cannot rename temporary file into place");
  }
  return Status::Ok();
}

std::string dump_json(const Json& j) { return j.dump(2) + "\n"; }

ObjectReader::ObjectReader(const Json& j, std::string file, std::string path)
    : ObjectReader(j, std::make_shared<State>(State{std::move(file), Status::Ok()}),
                   std::move(path)) {}

ObjectReader::ObjectReader(const Json& j, std::shared_ptr<State> state, std::string path)
    : j_(&j), state_(std::move(state)), path_(std::move(path)) {
  if (!j_->is_object()) {
    fail("", std::string("expected a JSON object, got ") + j_->type_name());
  }
}

std::string ObjectReader::field(const std::string& key) const {
  if (path_.empty()) return key;
  if (key.empty()) return path_;
  return path_ + "." + key;
}

void ObjectReader::fail(const std::string& key, const std::string& what) {
  if (!state_->status.ok()) return;
  const std::string f = field(key);
  state_->status = InvalidArgument(state_->file + ": " +
                                   (f.empty() ? std::string("top level") : "field \"" + f + "\"") +
                                   ": " + what);
}

bool ObjectReader::has(const char* key) const { return j_->is_object() && j_->contains(key); }

const Json* ObjectReader::find(const char* key, bool required) {
  known_.emplace_back(key);
  if (!j_->is_object()) return nullptr;
  auto it = j_->find(key);
  if (it == j_->end()) {
    if (required) fail(key, "missing");
    return nullptr;
  }
  return &*it;
}

namespace {
std::string show(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}
std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
}  // namespace

double ObjectReader::number(const char* key, double min, double max) {
  const Json* v = find(key, true);
  if (!v) return 0.0;
  if (!v->is_number()) {
    fail(key, "expected a number, got " + show(*v));
    return 0.0;
  }
  const double d = v->get<double>();
  if (!std::isfinite(d)) {
    fail(key, "must be finite");
    return 0.0;
  }
  if (d < min) {
    fail(key, "must be >= " + num(min) + ", got " + show(*v));
    return 0.0;
  }
  if (d > max) {
    fail(key, "must be <= " + num(max) + ", got " + show(*v));
    return 0.0;
  }
  return d;
}

double ObjectReader::number_or(const char* key, double fallback, double min, double max) {
  if (!has(key)) {
    known_.emplace_back(key);
    return fallback;
  }
  return number(key, min, max);
}

int64_t ObjectReader::integer(const char* key, int64_t min, int64_t max) {
  const Json* v = find(key, true);
  if (!v) return 0;
  if (!v->is_number_integer()) {
    fail(key, "expected an integer, got " + show(*v));
    return 0;
  }
  const int64_t i = v->get<int64_t>();
  if (i < min) {
    fail(key, "must be >= " + std::to_string(min) + ", got " + std::to_string(i));
    return 0;
  }
  if (i > max) {
    fail(key, "must be <= " + std::to_string(max) + ", got " + std::to_string(i));
    return 0;
  }
  return i;
}

int64_t ObjectReader::integer_or(const char* key, int64_t fallback, int64_t min, int64_t max) {
  if (!has(key)) {
    known_.emplace_back(key);
    return fallback;
  }
  return integer(key, min, max);
}

std::string ObjectReader::string(const char* key) {
  const Json* v = find(key, true);
  if (!v) return "";
  if (!v->is_string()) {
    fail(key, "expected a string, got " + show(*v));
    return "";
  }
  return v->get<std::string>();
}

std::string ObjectReader::string_or(const char* key, const std::string& fallback) {
  if (!has(key)) {
    known_.emplace_back(key);
    return fallback;
  }
  return string(key);
}

std::string ObjectReader::enumeration(const char* key, const std::vector<std::string>& allowed) {
  const std::string s = string(key);
  if (!ok()) return "";
  for (const auto& a : allowed)
    if (a == s) return s;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + ("\"" + a + "\"");
  fail(key, "must be one of " + list + ", got \"" + s + "\"");
  return "";
}

std::string ObjectReader::enumeration_or(const char* key, const std::vector<std::string>& allowed,
                                         const std::string& fallback) {
  if (!has(key)) {
    known_.emplace_back(key);
    return fallback;
  }
  return enumeration(key, allowed);
}

bool ObjectReader::boolean(const char* key) {
  const Json* v = find(key, true);
  if (!v) return false;
  if (!v->is_boolean()) {
    fail(key, "expected true or false, got " + show(*v));
    return false;
  }
  return v->get<bool>();
}

bool ObjectReader::boolean_or(const char* key, bool fallback) {
  if (!has(key)) {
    known_.emplace_back(key);
    return fallback;
  }
  return boolean(key);
}

ObjectReader ObjectReader::object(const char* key) {
  static const Json kEmpty = Json::object();
  const Json* v = find(key, true);
  if (!v) return ObjectReader(kEmpty, state_, field(key));
  return ObjectReader(*v, state_, field(key));
}

std::vector<ObjectReader> ObjectReader::objects(const char* key, size_t min_size) {
  std::vector<ObjectReader> out;
  const Json* v = find(key, true);
  if (!v) return out;
  if (!v->is_array()) {
    fail(key, "expected an array, got " + show(*v));
    return out;
  }
  if (v->size() < min_size) {
    fail(key, "needs at least " + std::to_string(min_size) + " entries, got " +
                  std::to_string(v->size()));
    return out;
  }
  for (size_t i = 0; i < v->size(); ++i) {
    out.push_back(ObjectReader((*v)[i], state_, field(key) + "[" + std::to_string(i) + "]"));
  }
  return out;
}

std::vector<double> ObjectReader::numbers(const char* key, double min) {
  std::vector<double> out;
  const Json* v = find(key, true);
  if (!v) return out;
  if (!v->is_array()) {
    fail(key, "expected an array of numbers, got " + show(*v));
    return out;
  }
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& e = (*v)[i];
    const std::string k = std::string(key) + "[" + std::to_string(i) + "]";
    if (!e.is_number()) {
      fail(k, "expected a number, got " + show(e));
      return {};
    }
    const double d = e.get<double>();
    if (!std::isfinite(d) || d < min) {
      fail(k, "must be finite and >= " + num(min) + ", got " + show(e));
      return {};
    }
    out.push_back(d);
  }
  return out;
}

std::vector<int64_t> ObjectReader::integers(const char* key, int64_t min) {
  std::vector<int64_t> out;
  const Json* v = find(key, true);
  if (!v) return out;
  if (!v->is_array()) {
    fail(key, "expected an array of integers, got " + show(*v));
    return out;
  }
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& e = (*v)[i];
    const std::string k = std::string(key) + "[" + std::to_string(i) + "]";
    if (!e.is_number_integer() || e.get<int64_t>() < min) {
      fail(k, "expected an integer >= " + std::to_string(min) + ", got " + show(e));
      return {};
    }
    out.push_back(e.get<int64_t>());
  }
  return out;
}

const Json& ObjectReader::raw(const char* key) {
  static const Json kNull;
  const Json* v = find(key, true);
  return v ? *v : kNull;
}

void ObjectReader::format_version(int expected) {
  const int64_t v = integer("format_version", 1);
  if (ok() && v != expected) {
    fail("format_version", "unsupported version " + std::to_string(v) + " (this build reads " +
                               std::to_string(expected) + ")");
  }
}

Status ObjectReader::finish() {
  if (state_->status.ok() && j_->is_object()) {
    for (auto it = j_->begin(); it != j_->end(); ++it) {
      bool known = false;
      for (const auto& k : known_) known = known || k == it.key();
      if (!known) {
        fail(it.key(), "unknown field");
        break;
      }
    }
  }
  return state_->status;
}

}  // namespace paratune
