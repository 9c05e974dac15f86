import Foundation

/// The functions every template can call: jinja2's `range`, `dict`, `namespace`, `cycler`,
/// `joiner`, and transformers' `raise_exception` and `strftime_now`.
enum JinjaGlobals {
    /// jinja2's sandbox refuses ranges longer than this.
    static let maxRange = 100_000

    static func make() -> [(String, JinjaValue)] {
        [
            ("range", function("range", range)),
            ("dict", function("dict") { _, arguments in
                var object = JinjaObject()
                for positional in arguments.positional {
                    switch positional {
                    case .object(let other): for (key, value) in other { object[key] = value }
                    case .array(let pairs):
                        for pair in pairs {
                            guard case .array(let parts) = pair, parts.count == 2, case .string(let key) = parts[0] else {
                                throw JinjaFailure.type("dictionary update sequence element has the wrong shape")
                            }
                            object[key] = parts[1]
                        }
                    default: throw JinjaFailure.type("'\(positional.typeName)' object is not iterable")
                    }
                }
                for (key, value) in arguments.keyword { object[key] = value }
                return .object(object)
            }),
            ("namespace", function("namespace") { interpreter, arguments in
                var attributes = JinjaObject()
                for positional in arguments.positional {
                    guard case .object(let initial) = positional else {
                        throw JinjaFailure.type("namespace() takes a mapping and keyword arguments")
                    }
                    for (key, value) in initial { attributes[key] = value }
                }
                for (key, value) in arguments.keyword { attributes[key] = value }
                if let hidden = attributes.keys.first(where: { $0.hasPrefix("_") }) {
                    throw JinjaFailure.security(
                        "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(hidden)'. Please rename the attribute.")
                }
                return interpreter.makeNamespace(attributes)
            }),
            ("raise_exception", function("raise_exception") { _, arguments in
                let bound = try arguments.bind("raise_exception", ["message"])
                throw JinjaFailure.raised(bound[0]?.pythonString ?? "")
            }),
            ("strftime_now", function("strftime_now") { interpreter, arguments in
                let bound = try arguments.bind("strftime_now", ["format"])
                guard case .string(let format) = bound[0] ?? JinjaValue.none else {
                    throw JinjaFailure.type("strftime() argument 1 must be str")
                }
                return .string(JinjaStrftime.format(format, interpreter.clock))
            }),
            ("cycler", function("cycler") { _, arguments in
                let items = arguments.positional
                let state = CyclerState()
                var cycler = JinjaObject()
                cycler["next"] = function("next") { _, _ in
                    guard !items.isEmpty else { return .none }
                    defer { state.position = (state.position + 1) % items.count }
                    return items[state.position]
                }
                return .object(cycler)
            }),
            ("joiner", function("joiner") { _, arguments in
                let separator = (try arguments.bind("joiner", ["sep"]))[0]?.pythonString ?? ", "
                let state = CyclerState()
                return function("joiner") { _, _ in
                    defer { state.position = 1 }
                    return .string(state.position == 0 ? "" : separator)
                }
            }),
        ]
    }

    private final class CyclerState {
        var position = 0
    }

    private static func function(_ name: String, _ body: @escaping JinjaCallable.Body) -> JinjaValue {
        .callable(JinjaCallable(name: name, body: body))
    }

    private static func range(_ interpreter: JinjaInterpreter, _ arguments: JinjaArguments) throws -> JinjaValue {
        guard arguments.keyword.isEmpty else { throw JinjaFailure.type("range() takes no keyword arguments") }
        let numbers = try arguments.positional.map { value -> Int in
            guard let integer = value.integerValue else {
                throw JinjaFailure.type("'\(value.typeName)' object cannot be interpreted as an integer")
            }
            return integer
        }
        let (start, stop, step): (Int, Int, Int)
        switch numbers.count {
        case 1: (start, stop, step) = (0, numbers[0], 1)
        case 2: (start, stop, step) = (numbers[0], numbers[1], 1)
        case 3: (start, stop, step) = (numbers[0], numbers[1], numbers[2])
        default: throw JinjaFailure.type("range expected at most 3 arguments, got \(numbers.count)")
        }
        guard step != 0 else { throw JinjaFailure.type("range() arg 3 must not be zero") }
        let count = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
        guard count <= maxRange else {
            throw JinjaFailure.security("Range too big. The sandbox blocks ranges larger than MAX_RANGE (\(maxRange)).")
        }
        return .array((0..<count).map { .int(start + $0 * step) })
    }
}

/// Python's `datetime.strftime` for the directives chat templates use (`%d %b %Y`, `%Y-%m-%d`,
/// `%B`, `%A`, `%H:%M:%S`, ...), in English as Python's C locale writes them.
enum JinjaStrftime {
    private static let months = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
        "November", "December",
    ]
    private static let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    static func format(_ format: String, _ clock: RenderClock) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = clock.timeZone
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second, .weekday, .nanosecond], from: clock.date)
        let year = parts.year ?? 1970
        let month = parts.month ?? 1
        let day = parts.day ?? 1
        let hour = parts.hour ?? 0
        let minute = parts.minute ?? 0
        let second = parts.second ?? 0
        let weekday = (parts.weekday ?? 1) - 1
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: clock.date) ?? 1
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var result = ""
        var iterator = format.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else {
                result.append(character)
                continue
            }
            guard let directive = iterator.next() else {
                result.append("%")
                break
            }
            switch directive {
            case "d": result += two(day)
            case "e": result += day < 10 ? " \(day)" : "\(day)"
            case "m": result += two(month)
            case "Y": result += String(year)
            case "y": result += two(year % 100)
            case "b", "h": result += String(months[month - 1].prefix(3))
            case "B": result += months[month - 1]
            case "a": result += String(weekdays[weekday].prefix(3))
            case "A": result += weekdays[weekday]
            case "w": result += String(weekday)
            case "u": result += String(weekday == 0 ? 7 : weekday)
            case "j": result += String(repeating: "0", count: 3 - String(dayOfYear).count) + String(dayOfYear)
            case "H": result += two(hour)
            case "I": result += two(hour % 12 == 0 ? 12 : hour % 12)
            case "M": result += two(minute)
            case "S": result += two(second)
            case "p": result += hour < 12 ? "AM" : "PM"
            case "f": result += String(format: "%06d", (parts.nanosecond ?? 0) / 1000)
            case "F": result += "\(year)-\(two(month))-\(two(day))"
            case "D": result += "\(two(month))/\(two(day))/\(two(year % 100))"
            case "T": result += "\(two(hour)):\(two(minute)):\(two(second))"
            case "R": result += "\(two(hour)):\(two(minute))"
            case "%": result += "%"
            default: result += "%\(directive)"
            }
        }
        return result
    }
}
