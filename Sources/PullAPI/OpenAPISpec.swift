import Hummingbird
import NIOCore

/// The OpenAPI 3.1 description of every endpoint of `banksync serve`, served at `/openapi.yaml` and
/// checked against the live server by schemathesis in the test suite (Tests/PullAPITests/SchemathesisTests).
public enum OpenAPISpec {
    static func register(on router: Router<PullAPIContext>) {
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: ResponseBody(byteBuffer: ByteBuffer(string: yaml)))
        }
    }

    public static let yaml = """
    openapi: 3.1.0
    info:
      title: BankSync PULL API
      version: "1.0"
      description: >
        Flowpay's PULL feeds of a partner's customers' bank data, the Flowpay webhook receiver, consent
        redirects and operations endpoints. Every error of the feeds is Flowpay's error envelope with a logref.
    servers:
      - url: /
    components:
      securitySchemes:
        apiKey:
          type: apiKey
          in: header
          name: X-API-Key
      schemas:
        Error:
          type: object
          required: [message, logref]
          properties:
            message: {type: string}
            logref: {type: string}
            _embedded:
              type: object
              properties:
                errors:
                  type: array
                  items: {type: object, required: [message], properties: {message: {type: string}}}
            _links:
              type: object
              properties:
                self: {type: object, properties: {href: {type: string}, templated: {type: boolean}}}
        Balance:
          type: object
          required: [currency, amount, type, referenceDate]
          properties:
            currency: {type: string, pattern: "^[A-Z]{3}$"}
            amount: {type: number}
            type: {type: string}
            referenceDate: {type: string, format: date}
        BankAccount:
          type: object
          required: [iban, bic]
          properties:
            iban: {type: string, maxLength: 34}
            bic: {type: string, maxLength: 8}
            name: {type: string}
            ownerName: {type: string}
            balances: {type: array, items: {$ref: "#/components/schemas/Balance"}}
            reconciliation: {$ref: "#/components/schemas/Reconciliation"}
        Reconciliation:
          type: object
          description: >-
            BankSync's addition: whether the bank's own booked balances agree with the booked transactions it
            delivered for this account. For two booked balances B1 at the end of day d1 and B2 at the end of d2, the
            transactions booked after d1 through d2 must add up to B2 - B1 to the cent. `reconciled`: every such range
            agrees from the account's first balance day through `reconciledThrough`. `mismatch`: the earliest range
            that does not, booking days `differenceFrom` to `differenceTo`, by `difference` (the bank's balance
            movement minus the delivered amounts: positive, the bank has more). `waiting`: one balance day so far.
            `not_reconcilable`: the bank gives no usable booked balance (`detail` says why). Absent before the
            account's first sync.
          required: [state]
          properties:
            state: {type: string, enum: [reconciled, waiting, mismatch, not_reconcilable]}
            detail: {type: string}
            reconciledThrough: {type: string, format: date}
            differenceFrom: {type: string, format: date}
            differenceTo: {type: string, format: date}
            difference: {type: number}
            currency: {type: string, pattern: "^[A-Z]{3}$"}
        BankTransaction:
          type: object
          required: [id, iban, currency, bookingDate, amount]
          properties:
            id: {type: string}
            iban: {type: string, maxLength: 34}
            currency: {type: string, pattern: "^[A-Z]{3}$"}
            bookingDate: {type: string, format: date}
            valueDate: {type: string, format: date}
            amount: {type: number, description: "Signed: negative for money leaving the account."}
            counterAccount: {type: string}
            counterName: {type: string}
            remittanceInfo: {type: string}
      responses:
        Error:
          description: Flowpay's error envelope
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
        TooManyRequests:
          description: The key's request rate is exceeded
          headers:
            Retry-After: {schema: {type: integer}}
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
        Page:
          description: An HTML page for the customer's browser
          content:
            text/html:
              schema: {type: string}
    paths:
      /flowpay/v1/bank-accounts:
        get:
          operationId: bankAccounts
          security: [{apiKey: []}]
          parameters:
            - {name: merchantId, in: query, required: true, schema: {type: string, minLength: 1}}
          responses:
            "200":
              description: The merchant's accounts with their latest balances
              content:
                application/json:
                  schema:
                    type: object
                    required: [data]
                    properties:
                      data: {type: array, items: {$ref: "#/components/schemas/BankAccount"}}
            "400": {$ref: "#/components/responses/Error"}
            "401": {$ref: "#/components/responses/Error"}
            "404": {$ref: "#/components/responses/Error"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "503": {$ref: "#/components/responses/Error"}
      /flowpay/v1/bank-transactions:
        get:
          operationId: bankTransactions
          security: [{apiKey: []}]
          parameters:
            - {name: merchantId, in: query, required: true, schema: {type: string, minLength: 1}}
            - name: updatedAt
              in: query
              required: false
              schema: {type: string, format: date-time}
              description: >
                Only transactions the feed first served after this instant (visibility, not arrival). Resume with
                the X-Updated-Until of the previous answer to get every transaction exactly once.
            - {name: size, in: query, required: false, schema: {type: integer, minimum: 1, maximum: 1000, default: 100}}
            - {name: page, in: query, required: false, schema: {type: string}, description: "The nextPage cursor of an earlier page."}
          responses:
            "200":
              description: >
                Booked transactions in arrival order. Every non-empty page has nextPage, the position after its
                last row; an empty page has none.
              headers:
                X-Updated-Until:
                  description: The instant (database clock) to pass as the next updatedAt.
                  schema: {type: string, format: date-time}
              content:
                application/json:
                  schema:
                    type: object
                    required: [data]
                    properties:
                      data: {type: array, items: {$ref: "#/components/schemas/BankTransaction"}}
                      nextPage: {type: string}
            "400": {$ref: "#/components/responses/Error"}
            "401": {$ref: "#/components/responses/Error"}
            "404": {$ref: "#/components/responses/Error"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "503": {$ref: "#/components/responses/Error"}
      /webhooks/flowpay:
        post:
          operationId: flowpayWebhook
          description: >
            Answered 200 in every case. Signature and timestamp are checked before anything is queued or stored
            (unsigned, forged, stale and oversized bodies are dropped and counted); replays are dropped afterwards.
          parameters:
            - {name: x-flowpay-ts, in: header, required: false, schema: {type: string}}
            - {name: x-flowpay-sig, in: header, required: false, schema: {type: string}}
          requestBody:
            required: false
            description: >
              Flowpay's event JSON. The receiver takes the raw bytes as they came, because the signature is over
              exactly those bytes; what does not verify or parse is recorded for ops and never acted on.
            content:
              "*/*":
                schema: {type: string, format: binary}
          responses:
            "200":
              description: Received
              content:
                application/json:
                  schema: {type: object, required: [received], properties: {received: {type: boolean}}}
      /consents/gocardless/callback:
        get:
          operationId: goCardlessConsentCallback
          parameters:
            - {name: ref, in: query, required: true, schema: {type: string, minLength: 1, maxLength: 128}, description: "The one-time state value of the link."}
          responses: &consentCallbackResponses   # the Berlin Group callback answers the same
            "200": {$ref: "#/components/responses/Page"}
            "400": {$ref: "#/components/responses/Page"}
            "404": {$ref: "#/components/responses/Page"}
            "409": {$ref: "#/components/responses/Page"}
            "410": {$ref: "#/components/responses/Page"}
            "503": {$ref: "#/components/responses/Page"}
      /consents/berlingroup/callback:
        get:
          operationId: berlinGroupConsentCallback
          parameters:
            - {name: state, in: query, required: true, schema: {type: string, minLength: 1, maxLength: 128}, description: "The one-time state value of the link."}
          responses: *consentCallbackResponses
      /healthz:
        get:
          operationId: healthz
          responses:
            "200":
              description: The process is up
              content:
                application/json:
                  schema: {type: object, required: [status], properties: {status: {type: string}}}
      /readyz:
        get:
          operationId: readyz
          responses:
            "200":
              description: Database reachable, schema at this build's version
              content:
                application/json:
                  schema: {type: object, required: [status], properties: {status: {type: string}}}
            "503":
              description: Not ready
              content:
                application/json:
                  schema: {type: object, required: [status], properties: {status: {type: string}}}
      /openapi.yaml:
        get:
          operationId: openapi
          responses:
            "200":
              description: This document
              content:
                application/yaml:
                  schema: {type: string}
    """
}
