@testable import PullAPI
import Testing

@Suite struct ConsentPageTests {
    /// Consent pages can show what a bank said (its consent status): escaped, never markup.
    @Test func pageTextsAreEscaped() {
        #expect(ConsentCallbacks.escapeHTML(#"<script>alert("x")</script> & 'y'"#)
                == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;")
        #expect(ConsentCallbacks.escapeHTML("Váš účet je připojen") == "Váš účet je připojen")
    }
}
