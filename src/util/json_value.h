// A small JSON document model and strict parser (RFC 8259) for config and encodings files.
// Errors name the source and the line and column.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace qsim {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  JsonValue() = default;
  static JsonValue boolean(bool b);
  static JsonValue number(double d);
  static JsonValue string(std::string s);
  static JsonValue array();
  static JsonValue object();
  // An object of these members, whose keys must differ (the parser's; no check here).
  static JsonValue object(std::vector<std::pair<std::string, JsonValue>> members);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  // Typed access; a wrong kind throws kParse naming `where` (a path such as "defaults.ops").
  bool as_bool(const std::string& where) const;
  double as_number(const std::string& where) const;
  int64_t as_int(const std::string& where) const;  // must be integral
  const std::string& as_string(const std::string& where) const;
  const std::vector<JsonValue>& as_array(const std::string& where) const;
  // Object members in file order.
  const std::vector<std::pair<std::string, JsonValue>>& as_object(const std::string& where) const;

  // Object lookup; nullptr when absent (or when this is not an object).
  const JsonValue* find(const std::string& key) const;
  void push_back(JsonValue v);
  void set(const std::string& key, JsonValue v);

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  double number_ = 0.0;
  std::string string_;
  std::vector<JsonValue> array_;
  std::vector<std::pair<std::string, JsonValue>> object_;
};

enum class DuplicateKeys {
  kReject,    // an object repeating a key is an error (qsim's own files)
  kLastWins,  // the last value wins, as Python's json does (vendor files written by hand)
};

// Parses a whole document; throws kParse with "<source>:<line>:<col>: <reason>".
JsonValue parse_json(const std::string& text, const std::string& source,
                     DuplicateKeys duplicates = DuplicateKeys::kReject);
JsonValue read_json_file(const std::string& path, DuplicateKeys duplicates = DuplicateKeys::kReject);

}  // namespace qsim
