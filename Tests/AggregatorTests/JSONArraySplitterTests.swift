@testable import Aggregators
import BankSyncCore
import Foundation
import Testing

/// The streaming reader finds the same elements whatever the buffer boundaries, and keeps the rest.
@Suite struct JSONArraySplitterTests {
    static let document = #"""
        { "account": {"iban": "CZ65"}, "transactions" : { "booked" : [ {"a": "x]}\",{", "b": [1, {"c": null}]},
          {"a":"\\"} ] , "pending":[ 7 , "s,]" ,true, null ], "_links": {"next": {"href": "/v1/p?x=[1]"}} },
          "other": [[1, 2], {"booked": [3]}] }
        """#

    func split(_ text: String, bufferSize: Int) throws -> (elements: [String], skeleton: String) {
        var splitter = JSONArraySplitter(arrays: [["transactions", "booked"], ["transactions", "pending"]])
        var elements: [String] = []
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            let end = min(start + bufferSize, bytes.count)
            try splitter.feed(bytes[start..<end]) { path, index, element in
                elements.append("\(path.joined(separator: "."))[\(index)]=\(String(decoding: element, as: UTF8.self))")
            }
            start = end
        }
        return (elements, String(decoding: splitter.skeleton, as: UTF8.self))
    }

    @Test(arguments: [1, 2, 3, 7, 64, 100_000])
    func elementsAndSkeletonWhateverTheBufferBoundaries(bufferSize: Int) throws {
        let (elements, skeleton) = try split(Self.document, bufferSize: bufferSize)
        #expect(elements == [
            #"transactions.booked[0]={"a": "x]}\",{", "b": [1, {"c": null}]}"#,
            #"transactions.booked[1]={"a":"\\"}"#,
            "transactions.pending[0]=7", #"transactions.pending[1]="s,]""#, "transactions.pending[2]=true",
            "transactions.pending[3]=null",
        ])
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(skeleton.utf8)) as? [String: Any])
        let transactions = try #require(parsed["transactions"] as? [String: Any])
        #expect((transactions["booked"] as? [Any])?.isEmpty == true)
        #expect((transactions["pending"] as? [Any])?.isEmpty == true)
        #expect(((transactions["_links"] as? [String: Any])?["next"] as? [String: Any])?["href"] as? String == "/v1/p?x=[1]")
        #expect((parsed["other"] as? [Any])?.count == 2, "arrays elsewhere stay in the skeleton")
    }

    @Test func anOversizedElementOrSkeletonIsRefused() throws {
        var small = JSONArraySplitter(arrays: [["transactions", "booked"]], elementLimit: 16)
        #expect(throws: JSONArraySplitter.Problem.self) {
            try small.feed(Array(#"{"transactions":{"booked":[{"remittance":"a very long text indeed"}]}}"#.utf8)) { _, _, _ in }
        }
        var skeleton = JSONArraySplitter(arrays: [["transactions", "booked"]], skeletonLimit: 16)
        #expect(throws: JSONArraySplitter.Problem.self) {
            try skeleton.feed(Array(#"{"other":"a long value outside the arrays"}"#.utf8)) { _, _, _ in }
        }
    }
}

/// Raw JSON is kept as the source sent it, unless a number has an exponent PostgreSQL's jsonb may refuse.
@Suite struct RawJSONTests {
    @Test func onlyNumbersWithExponentsOutsideStringsAreWrittenAgain() {
        #expect(!TransactionDocumentReader.mayHoldExponent(Array(#"{"internalTransactionId":"00000000003e2a1f","amount":"12.50"}"#.utf8)))
        #expect(!TransactionDocumentReader.mayHoldExponent(Array(#"{"text":"say \"1e5\" twice","n":12}"#.utf8)))
        #expect(TransactionDocumentReader.mayHoldExponent(Array(#"{"rate":1e-20000}"#.utf8)))
        #expect(TransactionDocumentReader.mayHoldExponent(Array(#"{"a":"x","rate":2.5E3}"#.utf8)))
    }
}
