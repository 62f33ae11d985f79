import CivilCalendar
import Foundation
import Logging
import ServiceLifecycle
import Testing

@testable import TimeSeries

@Suite("Lifecycle")
struct LifecycleTests {
    static let base: Int64 = 1_714_521_600_000

    func rows(_ range: Range<Int>) -> [EventRow] {
        range.map { EventRow(series: sample(), timestamp: Self.base + Int64($0) * 1000, value: .number(Double($0))) }
    }

    @Test("Run in a service group, the store closes on graceful shutdown with everything appended kept")
    func serviceGroup() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(
            directory: directory.path,
            options: TimeSeriesOptions(syncPolicy: .interval(milliseconds: 60_000))
        )
        let group = ServiceGroup(services: [store], logger: Logger(label: "time-series-test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await store.append(rows(0..<50))
            try store.appendBlocking(rows(50..<100))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        await #expect(throws: TimeSeriesError.self) { try await store.append(rows(100..<110)) }
        let reopened = try TimeSeriesStore(directory: directory.path)
        #expect(reopened.recovery.replayedRows == 100)
        #expect(try allRows(reopened) == rows(0..<100))
        reopened.close()
    }

    @Test("Cancelled instead of shut down, the store's service still closes it")
    func cancelled() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path)
        try store.appendBlocking(rows(0..<10))
        let running = Task { try await store.run() }
        running.cancel()
        try await running.value
        #expect(throws: TimeSeriesError.self) { try store.appendBlocking(rows(10..<20)) }
    }

    @Test("Closing again, or from several threads at once, is harmless")
    func closeTwice() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(memtableRows: 30))
        for start in stride(from: 0, to: 200, by: 20) {
            try store.appendBlocking(rows(start..<start + 20))
        }
        await withTaskGroup(of: Void.self) { tasks in
            for _ in 0..<4 { tasks.addTask { await store.shutDown() } }
            tasks.addTask { store.close() }
        }
        store.close()
        #expect(throws: TimeSeriesError.self) { try store.appendBlocking(rows(200..<210)) }
        let reopened = try TimeSeriesStore(directory: directory.path)
        #expect(try allRows(reopened) == rows(0..<200))
        reopened.close()
    }

    @Test("Flushes wait for the flusher; appends beyond the frozen-table limit wait, none is lost")
    func flushesAndBackpressure() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        // Every append freezes a table, so the writer keeps running into the flusher's limit.
        let store = try TimeSeriesStore(
            directory: directory.path,
            options: TimeSeriesOptions(syncPolicy: .never, memtableRows: 1, blockRows: 16)
        )
        for start in stride(from: 0, to: 400, by: 4) {
            try store.appendBlocking(rows(start..<start + 4))
        }
        try store.flush()
        let statistics = store.statistics
        #expect(statistics.memtableRows == 0)
        #expect(statistics.segmentRows == 400)
        #expect(try allRows(store) == rows(0..<400))
        store.close()
    }

    @Test(
        "Partition names are the calendar's dates, both ways",
        arguments: [
            (Int64(0), "1970-01-01"), (-1, "1969-12-31"), (19_723, "2024-01-01"), (19_782, "2024-02-29"),
            (11_016, "2000-02-29"), (-719_468, "0000-03-01"),
        ]
    )
    func partitionNames(day: Int64, name: String) {
        #expect(CalendarDay(day: day).name == name)
        #expect(CalendarDay(name: name)?.day == day)
    }

    @Test("Every day of four centuries survives the trip to a date and back, one day after the other")
    func calendarRoundTrip() {
        var wrong: [Int] = []
        var previous = Gregorian.civilFromDays(-1)
        for days in 0..<146_097 {
            let date = Gregorian.civilFromDays(days)
            let expected =
                previous.day < Gregorian.daysIn(month: previous.month, year: previous.year)
                ? (previous.year, previous.month, previous.day + 1)
                : previous.month < 12 ? (previous.year, previous.month + 1, 1) : (previous.year + 1, 1, 1)
            if date != expected || Gregorian.daysFromCivil(year: date.year, month: date.month, day: date.day) != days {
                wrong.append(days)
            }
            previous = date
        }
        #expect(wrong.isEmpty, "first wrong day: \(wrong.first ?? 0)")
    }
}
