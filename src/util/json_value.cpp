#include "util/json_value.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unordered_map>

#include "util/error.h"
#include "util/read_file.h"

namespace qsim {
namespace {

const char* kind_name(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::kNull:
      return "null";
    case JsonValue::Kind::kBool:
      return "a boolean";
    case JsonValue::Kind::kNumber:
      return "a number";
    case JsonValue::Kind::kString:
      return "a string";
    case JsonValue::Kind::kArray:
      return "an array";
    case JsonValue::Kind::kObject:
      return "an object";
  }
  return "?";
}

class Parser {
 public:
  Parser(const std::string& text, const std::string& source, DuplicateKeys duplicates)
      : text_(text), source_(source), duplicates_(duplicates) {}

  JsonValue document() {
    JsonValue v = value(0);
    skip_space();
    if (pos_ != text_.size()) error("unexpected text after the JSON value");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 256;

  [[noreturn]] void error(const std::string& reason) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    fail(ErrorCode::kParse,
         source_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + reason);
  }

  void skip_space() {
    while (pos_ < text_.size() && std::strchr(" \t\r\n", text_[pos_]) != nullptr &&
           text_[pos_] != '\0')
      ++pos_;
  }

  bool consume(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  void expect(char c) {
    if (!consume(c)) error(std::string("expected '") + c + "'");
  }

  bool literal(const char* word) {
    size_t n = std::strlen(word);
    if (text_.compare(pos_, n, word) != 0) return false;
    pos_ += n;
    return true;
  }

  JsonValue value(int depth) {
    if (depth > kMaxDepth) error("nesting is too deep");
    skip_space();
    if (pos_ >= text_.size()) error("unexpected end of input");
    char c = text_[pos_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return JsonValue::string(string());
    if (literal("true")) return JsonValue::boolean(true);
    if (literal("false")) return JsonValue::boolean(false);
    if (literal("null")) return JsonValue();
    if (c == '-' || (c >= '0' && c <= '9')) return JsonValue::number(number());
    error(std::string("unexpected character '") + c + "'");
  }

  // Keys are indexed while the object is read, so n keys cost O(n), not O(n^2).
  JsonValue object(int depth) {
    expect('{');
    std::vector<std::pair<std::string, JsonValue>> members;
    if (consume('}')) return JsonValue::object(std::move(members));
    std::unordered_map<std::string, size_t> index;
    do {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"') error("expected a string key");
      std::string key = string();
      const auto found = index.find(key);
      if (found != index.end() && duplicates_ == DuplicateKeys::kReject)
        error("duplicate key \"" + key + "\"");
      expect(':');
      JsonValue member = value(depth + 1);
      if (found != index.end()) {
        members[found->second].second = std::move(member);  // the last value wins
      } else {
        index.emplace(key, members.size());
        members.emplace_back(std::move(key), std::move(member));
      }
    } while (consume(','));
    expect('}');
    return JsonValue::object(std::move(members));
  }

  JsonValue array(int depth) {
    expect('[');
    JsonValue arr = JsonValue::array();
    if (consume(']')) return arr;
    do {
      arr.push_back(value(depth + 1));
    } while (consume(','));
    expect(']');
    return arr;
  }

  double number() {
    size_t start = pos_;
    if (text_[pos_] == '-') ++pos_;
    auto digits = [&] {
      size_t from = pos_;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      return pos_ - from;
    };
    if (digits() == 0) error("malformed number");
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) error("malformed number");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (digits() == 0) error("malformed number");
    }
    std::string token = text_.substr(start, pos_ - start);
    errno = 0;
    double d = std::strtod(token.c_str(), nullptr);
    if (errno == ERANGE && std::isinf(d)) error("number out of range");
    return d;
  }

  void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  uint32_t hex4() {
    if (pos_ + 4 > text_.size()) error("truncated \\u escape");
    uint32_t cp = 0;
    for (int i = 0; i < 4; ++i) {
      char h = text_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9')
        cp |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f')
        cp |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        cp |= static_cast<uint32_t>(h - 'A' + 10);
      else
        error("bad \\u escape");
    }
    return cp;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) error("unterminated string");
      char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) error("unterminated string");
      char e = text_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF && text_.compare(pos_, 2, "\\u") == 0) {
            pos_ += 2;
            uint32_t low = hex4();
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          error(std::string("bad escape '\\") + e + "'");
      }
    }
  }

  const std::string& text_;
  const std::string& source_;
  DuplicateKeys duplicates_;
  size_t pos_ = 0;
};

[[noreturn]] void wrong_kind(const std::string& where, const char* wanted, JsonValue::Kind got) {
  fail(ErrorCode::kParse, where + " should be " + wanted + ", not " + kind_name(got));
}

}  // namespace

JsonValue JsonValue::boolean(bool b) {
  JsonValue v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}

JsonValue JsonValue::number(double d) {
  JsonValue v;
  v.kind_ = Kind::kNumber;
  v.number_ = d;
  return v;
}

JsonValue JsonValue::string(std::string s) {
  JsonValue v;
  v.kind_ = Kind::kString;
  v.string_ = std::move(s);
  return v;
}

JsonValue JsonValue::array() {
  JsonValue v;
  v.kind_ = Kind::kArray;
  return v;
}

JsonValue JsonValue::object() {
  JsonValue v;
  v.kind_ = Kind::kObject;
  return v;
}

JsonValue JsonValue::object(std::vector<std::pair<std::string, JsonValue>> members) {
  JsonValue v = object();
  v.object_ = std::move(members);
  return v;
}

bool JsonValue::as_bool(const std::string& where) const {
  if (kind_ != Kind::kBool) wrong_kind(where, "a boolean", kind_);
  return bool_;
}

double JsonValue::as_number(const std::string& where) const {
  if (kind_ != Kind::kNumber) wrong_kind(where, "a number", kind_);
  return number_;
}

int64_t JsonValue::as_int(const std::string& where) const {
  double d = as_number(where);
  if (d != std::floor(d) || std::fabs(d) > 9.0e15)
    fail(ErrorCode::kParse, where + " should be a whole number");
  return static_cast<int64_t>(d);
}

const std::string& JsonValue::as_string(const std::string& where) const {
  if (kind_ != Kind::kString) wrong_kind(where, "a string", kind_);
  return string_;
}

const std::vector<JsonValue>& JsonValue::as_array(const std::string& where) const {
  if (kind_ != Kind::kArray) wrong_kind(where, "an array", kind_);
  return array_;
}

const std::vector<std::pair<std::string, JsonValue>>& JsonValue::as_object(
    const std::string& where) const {
  if (kind_ != Kind::kObject) wrong_kind(where, "an object", kind_);
  return object_;
}

const JsonValue* JsonValue::find(const std::string& key) const {
  for (const auto& [k, v] : object_)
    if (k == key) return &v;
  return nullptr;
}

void JsonValue::push_back(JsonValue v) {
  array_.push_back(std::move(v));
}

void JsonValue::set(const std::string& key, JsonValue v) {
  for (auto& [k, existing] : object_)
    if (k == key) {
      existing = std::move(v);
      return;
    }
  object_.emplace_back(key, std::move(v));
}

JsonValue parse_json(const std::string& text, const std::string& source, DuplicateKeys duplicates) {
  return Parser(text, source, duplicates).document();
}

JsonValue read_json_file(const std::string& path, DuplicateKeys duplicates) {
  return parse_json(read_file_bytes(path), path, duplicates);
}

}  // namespace qsim
