#include "tools/cli/flags.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace portcullis::cli {
namespace {

// "-x" and "--x" are flags; "-" alone names stdin and is a value.
bool LooksLikeFlag(absl::string_view arg) {
  return arg.size() > 1 && arg[0] == '-';
}

// "-1", "-0.5": a negative number is a flag's value ("--threads -1" is a bad
// value for --threads, not a missing one); no flag's short name is a digit.
bool LooksLikeNegativeNumber(absl::string_view arg) {
  return arg.size() > 1 && arg[0] == '-' &&
         absl::ascii_isdigit(static_cast<unsigned char>(arg[1]));
}

// Whether `arg`, after a flag that takes values, is one of them.
bool IsValue(absl::string_view arg) {
  return !LooksLikeFlag(arg) || LooksLikeNegativeNumber(arg);
}

const FlagSpec* FindFlag(absl::Span<const FlagSpec> flags,
                         absl::string_view name) {
  for (const FlagSpec& flag : flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

}  // namespace

bool ParsedArgs::Has(absl::string_view flag) const {
  return flags_.find(flag) != flags_.end();
}

const std::vector<std::string>& ParsedArgs::Values(
    absl::string_view flag) const {
  static const std::vector<std::string>* const kEmpty =
      new std::vector<std::string>();
  const auto it = flags_.find(flag);
  return it == flags_.end() ? *kEmpty : it->second;
}

const std::string& ParsedArgs::Value(absl::string_view flag) const {
  static const std::string* const kEmpty = new std::string();
  const std::vector<std::string>& values = Values(flag);
  return values.empty() ? *kEmpty : values.front();
}

absl::StatusOr<ParsedArgs> ParseArgs(absl::Span<const std::string> args,
                                     absl::Span<const FlagSpec> flags) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      parsed.positional_.insert(parsed.positional_.end(), args.begin() + i + 1,
                                args.end());
      break;
    }
    if (arg == "--help" || arg == "-h") {
      parsed.help_ = true;
      return parsed;
    }
    if (!LooksLikeFlag(arg)) {
      parsed.positional_.push_back(arg);
      continue;
    }
    absl::string_view name;
    if (absl::StartsWith(arg, "--")) {
      name = absl::string_view(arg).substr(2);
    } else {
      const auto alias =
          std::find_if(flags.begin(), flags.end(), [&](const FlagSpec& f) {
            return f.short_name != '\0' && arg.size() == 2 &&
                   arg[1] == f.short_name;
          });
      if (alias == flags.end()) {
        return absl::InvalidArgumentError(absl::StrCat("unknown flag ", arg));
      }
      name = alias->name;
    }
    absl::string_view inline_value;
    const size_t equals = name.find('=');
    const bool has_inline_value = equals != absl::string_view::npos;
    if (has_inline_value) {
      inline_value = name.substr(equals + 1);
      name = name.substr(0, equals);
    }
    const FlagSpec* flag = FindFlag(flags, name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    std::vector<std::string>& values = parsed.flags_[std::string(flag->name)];
    switch (flag->kind) {
      case FlagKind::kSwitch:
        if (has_inline_value) {
          return absl::InvalidArgumentError(
              absl::StrCat("flag --", name, " takes no value"));
        }
        break;
      case FlagKind::kValue:
        if (!values.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("flag --", name, " given twice"));
        }
        if (has_inline_value) {
          values.emplace_back(inline_value);
        } else if (i + 1 < args.size() && IsValue(args[i + 1])) {
          values.push_back(args[++i]);
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat("flag --", name, " needs a value"));
        }
        break;
      case FlagKind::kValues: {
        const size_t before = values.size();
        if (has_inline_value) values.emplace_back(inline_value);
        while (!has_inline_value && i + 1 < args.size() &&
               IsValue(args[i + 1])) {
          values.push_back(args[++i]);
        }
        if (values.size() == before) {
          return absl::InvalidArgumentError(
              absl::StrCat("flag --", name, " needs at least one value"));
        }
        break;
      }
    }
  }
  return parsed;
}

}  // namespace portcullis::cli
