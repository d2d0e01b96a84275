/// Feeds fixed pages to code that takes an `AsyncSequence` of pages, optionally failing after some of them.
public func pages<Element: Sendable>(_ pages: [[Element]], failingAfter failAt: Int? = nil, with error: any Error = PagesError.sourceFailed)
    -> AsyncThrowingStream<[Element], any Error> {
    AsyncThrowingStream { continuation in
        for (index, page) in pages.enumerated() {
            if index == failAt { continuation.finish(throwing: error); return }
            continuation.yield(page)
        }
        continuation.finish()
    }
}

public enum PagesError: Error { case sourceFailed }
