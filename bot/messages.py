"""Every fixed text the bot says, as data: caveats, red-flag rules, refusals, greetings.

Edit wording here; the code only chooses which text applies. The caveats restate the content's own
notes: "Exercise is not recommended for acute low back pain" and "Strengthening the back with
exercises must be done progressively".
"""

ACUTE_CAVEAT = (
    "Acute pain or a fresh injury: exercise is not recommended for acute low back pain or a new injury. "
    "Keep up gentle daily activities and see a doctor or physiotherapist before you start exercising."
)
GRADUAL_CAVEAT = (
    "Progress gradually: start with easy exercises and increase slowly. Doing too much too soon "
    "can cause or increase back pain."
)

# A search for this text finds the content's own acute-pain note, cited first for fresh injuries.
ACUTE_NOTE_QUERY = "Exercise is not recommended for acute low back pain or a back injury."

# The urgent reply: the lead, one line per red flag that matched (its name and advice come from
# data/red_flags.yaml), then the close. No exercise advice follows it.
URGENT_LEAD = "**Please seek medical care now.** What you describe can be a sign of a serious problem:"
URGENT_FLAG = "- **{name}**: {advice}"
URGENT_CLOSE = (
    "If it is severe or getting worse, call {number}. Please do not start or continue "
    "exercising until a clinician has seen you."
)

# A message that comes near a red flag without clearly reporting one: this note comes first, beside
# the ordinary reply. {flags}: the red flags' names.
CAUTION = "**Get medical help now if you also have:** {flags}."

# A message that speaks of suicide or self-harm (data/crisis.yaml): this note comes first, before
# whatever else the reply says. {number}: TriageSettings.emergency_number, then CRISIS_LINE when
# TriageSettings.crisis_line names one.
CRISIS = ("**If you are thinking about suicide or harming yourself, please get help now:** call {number}{line}, "
          "or talk to a doctor or someone you trust today. You do not have to cope with this alone.")
CRISIS_LINE = " or {line}"

# Red flags themselves are rows of data/red_flags.yaml (names, advice, phrasings, context).

# Words that deny what follows in a clause (acute-pain cues, denied-symptom clauses left out of searches).
NEGATION = r"\b(no|not|without|never|none|neither|nor|denies|deny|free of|don'?t have|do not have|doesn'?t have|haven'?t (had|got|noticed)|hasn'?t|didn'?t have|no sign of|no signs of|not had|not having)\b"

# {examples} is replaced by EXAMPLES_LEAD and the content's example questions (nothing when it has none).
REFUSAL = (
    "I'm sorry, my content doesn't cover that, so I can't answer it. I can only answer questions about "
    "back care from the pages I hold.{examples}"
)
# {topic}: the question's words the content does not cover, as typed ("glaucoma", "wifi or router").
NOT_COVERED = (
    "My pages don't cover {topic}, so I can't answer that. For anything my pages don't cover, please ask "
    "a doctor, pharmacist or physiotherapist. I can answer questions about back care from the pages I hold.{examples}"
)
GREETING = (
    "Hello! I answer questions about back care and back exercises, quoting trusted content and citing "
    "every passage I use.{examples}"
)
THANKS = "You're welcome! Ask me anything else about back care or back exercises.{examples}"
BYE = "Take care, and come back any time you have a question about back care."
HUMAN = (
    "I'm a chatbot, not a person: I answer by quoting the pages I hold and citing each passage. For "
    "advice about you in particular, please ask a doctor, pharmacist or physiotherapist.{examples}"
)
ACK = "Ask me anything else about back care or back exercises whenever you like.{examples}"
# A request the pages cannot meet whatever they hold: a brand or product to buy, a price, a booking, a
# place near you (the "service" intent of data/intents.tsv).
SERVICE = (
    "I can't recommend brands or products, compare prices, book appointments or find places near you: "
    "I only quote the pages I hold. A pharmacist, your doctor or a local health service can help with "
    "that. I can answer questions about back care from my pages.{examples}"
)
# A question about an animal's health or care (the "animal" intent of data/intents.tsv).
ANIMAL = (
    "My pages are about people's health, so I can't answer about animals. A vet can help with that. "
    "I can answer questions about back care from my pages.{examples}"
)
EMPTY = "Please type a question about back care or back exercises.{examples}"
# Something was sent, but no words were left to read (only markup, symbols or emoji).
UNREADABLE = "I couldn't read a question in that. Please type your question in words.{examples}"
EXAMPLES_LEAD = " Try asking, for example:"
# {what}: what the question asked that the passages found do not say (data/question_types.tsv).
NOT_SAID = "My pages don't say {what}. Here is what they do say:"
TOO_LONG = "(Your message was long, so I read only its first {limit} characters.)"
ENGLISH_ONLY = "I can only answer in English, and I didn't find English words I could work with.{examples}"

# A question that describes a fresh injury or sudden pain: the acute caveat and note come first.
ACUTE_CUES = (
    r"\b(acute|sudden(ly)?|fresh|new injury|(i|i've|i have|just|recently|i just)\s+(\w+\s+)?(hurt|injured|pulled|strained|tweaked|twisted|wrenched|jarred) (my|his|her) (back|spine|neck)"
    r"|(pulled|strained|tweaked) a (muscle|back)|put my back out|threw (out )?my back( out)?|back (went|gave) (out|twinge)|spasms?|locked up"
    r"|(this|yesterday) (morning|afternoon|evening)|yesterday|today|last night|(an|one|two|a few|few) (hours?|days?) ago|since (this morning|yesterday)"
    r"|flare[- ]?up|flared up|(just|recently) (started|began))\b"
)

# Words of page layout, not advice: a sentence made only of these ("See posture page for more
# info.") stays in its passage but is never quoted as an answer on its own.
LAYOUT_WORDS = frozenset("see page pages info information read click here link more below above first".split())

# The page's one-line privacy notice: with the gap log on, and with it off.
PRIVACY_KEPT = ("Privacy: questions the content could not answer, and your ratings, are kept for {days:g} days "
                "to improve the content, with e-mail addresses, phone numbers and postcodes removed; nothing "
                "about who you are is stored.")
PRIVACY_NONE = "Privacy: nothing you type here is stored."

SOURCES_TITLE = "Sources"
CAVEATS_TITLE = "Safety notes"
SOURCES_HEADING = f"**{SOURCES_TITLE}**"
CAVEATS_HEADING = f"**{CAVEATS_TITLE}**"
# Later replies of a conversation that has shown the safety notes in full carry this line, which opens to them.
CAVEATS_REMINDER = "Safety notes still apply: sudden pain or a new injury, and going gradually (open to read)"

# A message that asks nothing of the content (empty, not English, or small talk of a kind that
# bot/data/intents.tsv names): its fixed reply and the answer kind.
FIXED_REPLIES = {
    "empty": (EMPTY, "empty"),
    "unreadable": (UNREADABLE, "empty"),
    "greeting": (GREETING, "small_talk"),
    "help": (GREETING, "small_talk"),
    "thanks": (THANKS, "small_talk"),
    "bye": (BYE, "small_talk"),
    "human": (HUMAN, "small_talk"),
    "ack": (ACK, "small_talk"),
    "service": (SERVICE, "refusal"),
    "animal": (ANIMAL, "refusal"),
    "language": (ENGLISH_ONLY, "language"),
}
