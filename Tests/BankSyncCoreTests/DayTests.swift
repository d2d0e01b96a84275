import BankSyncCore
import PropertyBased
import Testing

@Suite struct DayTests {
    @Test func parsesAndPrintsISODates() throws {
        let day = try #require(Day(iso: "2024-02-29"))
        #expect(day.description == "2024-02-29")
        #expect(day.adding(days: 1).description == "2024-03-01")
        #expect(Day(iso: "2026-11-24T10:15:00Z")?.description == "2026-11-24")
        #expect(Day(iso: "2023-02-29") == nil)
        #expect(Day(iso: "2026-13-01") == nil)
        #expect(Day(iso: "26-11-2026") == nil)
        #expect(Day(iso: "2026-11-24junk") == nil)
        #expect(Day(year: 1970, month: 1, day: 1)?.daysSinceEpoch == 0)
    }

    @Test func civilConversionRoundTrips() async {
        await propertyCheck(count: 300, input: Gen.int(in: -100_000...100_000)) { offset in
            let day = Day(daysSinceEpoch: offset)
            #expect(Day(iso: day.description) == day)
        }
    }
}
