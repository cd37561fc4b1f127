# Comity dashboard — English. Every other catalogue has exactly these messages.

## Frame
nav-label = Main menu
nav-consultations = Consultations
nav-liaisons = Liaison statements
nav-federation = Federation
language-menu = Language
login = Log in
logout = Log out
footer = Comity node of { $org } · version { $version }
back-home = Back to the consultations

## Languages
language-ar = Arabic
language-en = English
language-es = Spanish
language-fr = French
language-ru = Russian
language-zh = Chinese
doc-fallback = Not available in your language: shown in { $language }, the language it was published in.

## Roles
role-viewer = viewer
role-editor = editor
role-approver = approver
role-liaison-manager = liaison manager
role-admin = administrator

## Login
login-title = Log in
login-username = Account name
login-password = Password
login-failed = Wrong account name or password.
login-too-many = Too many failed attempts. Wait a few minutes, then try again.

## Errors
error-title = Something went wrong
error-title-not-found = Not found
error-title-forbidden = Not allowed
error-title-bad-request = This cannot be done as written
error-title-conflict = Not possible now
error-csrf = This form has expired or did not come from this site. Go back, reload the page and try again.
error-form = The form could not be read: { $detail }
error-role = This needs the { $role } role or higher.
error-login-needed = Log in to see this.
error-not-found = Nothing is held here under that address.
error-not-own = Only this organisation's own consultations can be revised here.

## Common words
yes = yes
no = no
none = None yet.
untitled = (untitled)
restricted = Restricted
restricted-note = This statement is restricted to other organisations: only its signed header is held here.
overdue = overdue
late = late
cc = Copy
unchanged = (unchanged)
this-node = this node

## Table columns
col-organisation = Organisation
col-stakeholder-group = Stakeholder group
col-region = Region
col-reciprocal = Reciprocal
col-connected = Connected
col-dialled = Dialled by
dialled-us = us
dialled-them = them (dial-out)
dialled-both = both
dialled-none = —
reach-reachable = reachable
reach-dial-out-only = dial-out only
reach-unconfirmed = listening; no partner has dialled in yet
col-lag = Lag
col-last-error = Last error
col-checkpoint = Checkpoint
checkpoint-none = none yet
checkpoint-size = size {$size}
checkpoint-cosigned = cosigned by {$org},
col-title = Title
col-topics = Topics
col-closes = Closes
col-status = Status
col-responses = Responses
col-response = Response
col-revision = Revision
col-published = Published
col-entry = Entry
col-from = From
col-to = To
col-purpose = Purpose
col-deadline = Deadline
col-state = State

## Federation
federation-title = Federation
federation-intro = Every organisation this node follows, as its signed profile describes it, and the state of replication with it.
lag-none = up to date
lag-entries = { $origin }: { $count } entries behind
last-contact = last contact:

## Stakeholder groups
sg-government = Government
sg-intergovernmental = Intergovernmental organisation
sg-private-sector = Private sector
sg-civil-society = Civil society
sg-technical-academic = Technical and academic community
sg-unspecified = Not stated

## Consultation status
status-draft = Draft
status-upcoming = Not yet open
status-open = Open
status-reply_period = Reply period
status-closed = Closed
status-withdrawn = Withdrawn
status-report_published = Report published

## Consultations
consultations-title = Consultations
consultations-none = No consultation matches these filters.
consultation-new = Publish a consultation
filter-org = Organisation
filter-topic = Topic
filter-language = Language of the document
filter-status = Status
filter-any = Any
filter-all = All
filter-apply = Filter
field-title = Title
field-language = Language
field-summary = Summary
field-opens = Opens
field-closes = Closes
field-reply-closes = Reply period closes
field-topics = Topics (separated by commas)
field-body = Text
field-link = Web page
field-questions = Guiding questions (one per line)
field-contact = Contact
field-contact-name = Contact name
field-contact-email = Contact e-mail
field-on-behalf-of = On behalf of
field-note = Note
field-identifiers = Other document numbers
field-restricted = Restricted: only the addressees receive the text
dates-note = Dates are read Anywhere on Earth: a consultation closing on a day stays open until that day has ended everywhere.
publish = Publish
attachments = Attachments
report = Summary report
revisions = Revisions
responses = Responses
participation = Participation
respond = Respond
revise = Revise
revise-note = Leave a field empty to keep it as it is. Each revision is a new signed entry; the earlier ones stay in the log.

## Liaison statements
liaisons-title = Liaison statements
liaison-new = Draft a liaison statement
tab-inbox = Inbox
tab-outbox = Outbox
tab-awaiting = Awaiting action
tab-overdue = Overdue
tab-drafts = Drafts
purpose-action = For action
purpose-comment = For comment
purpose-information = For information
purpose-in_response = In response
purpose-unspecified = Not stated
state-awaiting = Awaiting
state-received = Received
state-accepted_for_action = Accepted for action
state-reply_coming = Reply coming
state-action_taken = Action taken
draft-draft = Draft
draft-approved = Approved by { $by }
draft-posted = Posted (entry { $seq })
draft-save = Save as draft
approve = Approve
post = Post
recipients-note = Write an organisation ("icann"), one of its groups ("itu/itu-t/sg17"), or a group a partner lists; separate several with commas.
recipients-own-note = Give one recipient its own purpose and deadline after “=”: “itu=action:2027-03-31”, “icann=information”.
recipients = Recipients
receipts = Receipts
replies = Replies
in-reply-to = In reply to
acknowledge = Acknowledge
reply = Reply
reply-note = The reply is saved as a draft, addressed to the sender; it is posted from the Drafts tab.
receipt-by-reply = by the reply
reply-action-note = Once posted, the reply marks this statement “action taken” for { $org }, with the reply linked.

## Search
search-label = Search the documents held here
search-placeholder = Search…
search-submit = Search
search-title = Search
search-count = { $count } documents found for “{ $query }”
search-none = No document you may read has these words.
search-empty = Type words in the search box: consultations, responses and liaison statements of every origin, in any language.
search-kind-consultation = Consultation
search-kind-response = Response
search-kind-liaison = Liaison statement

## Times and dates
time-now = just now
time-ago-minutes = { $n ->
    [one] { $n } minute ago
   *[other] { $n } minutes ago
}
time-ago-hours = { $n ->
    [one] { $n } hour ago
   *[other] { $n } hours ago
}
time-ago-days = { $n ->
    [one] { $n } day ago
   *[other] { $n } days ago
}
time-ago-months = { $n ->
    [one] { $n } month ago
   *[other] { $n } months ago
}
time-ago-years = { $n ->
    [one] { $n } year ago
   *[other] { $n } years ago
}
time-in-minutes = { $n ->
    [one] in { $n } minute
   *[other] in { $n } minutes
}
time-in-hours = { $n ->
    [one] in { $n } hour
   *[other] in { $n } hours
}
time-in-days = { $n ->
    [one] in { $n } day
   *[other] in { $n } days
}
time-in-months = { $n ->
    [one] in { $n } month
   *[other] in { $n } months
}
time-in-years = { $n ->
    [one] in { $n } year
   *[other] in { $n } years
}
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
date-day = { $day } { $month } { $year }
date-time = { $date }, { $time } UTC

## Pages of a list
page-info = Page { $page } of { $pages } ({ $total } in all)
page-prev = Previous
page-next = Next
