# ruff: noqa: RUF001  # Persian and Arabic text is meant to look like Persian and Arabic.
"""Word lists and interface labels the generated news web draws its text from.

The lists are small on purpose: sentences are sampled from them with a seeded RNG, so every
story differs from every other in word order and choice while staying cheap to generate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    """The words and page labels of one language the generated outlets write in."""

    code: str
    direction: str  # "ltr" or "rtl"
    words: tuple[str, ...]
    subjects: tuple[str, ...]
    verbs: tuple[str, ...]
    sections: dict[str, str]
    labels: dict[str, str]
    full_stop: str = "."
    comma: str = ","


def _split(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(sep) if part.strip())


SECTIONS = (
    "top",
    "world",
    "politics",
    "business",
    "technology",
    "science",
    "health",
    "sport",
    "culture",
    "middle-east",
    "economy",
    "environment",
)

ENGLISH = Language(
    code="en",
    direction="ltr",
    words=_split(
        """
        government minister council parliament economy market oil gas price prices people
        country city province report news today yesterday week year month day meeting summit
        agreement talks security policy foreign domestic international organisation decision
        programme plan law court ruling case election candidate vote party protest protesters
        announced said added stressed about for with from to in that this which after before
        also but still very more less large small new important main first last region border
        neighbour port exports imports production industry farming water power air pollution
        university students school education health hospital doctors treatment sport football
        team match cup culture art book film cinema music technology internet network users
        project investment bank currency dollar inflation growth budget costs revenue taxes
        workers wages women young families society media journalist newspaper interview
        officials residents analysts experts sources spokesman committee ministry agency
        coalition opposition reform crisis deal sanctions negotiations ceasefire aid
        humanitarian refugees drought flood storm energy climate emissions carbon renewable
        solar wind nuclear reactor launch satellite research laboratory vaccine outbreak
        cases patients clinic funding shortage supply chain shipping trade tariffs exchange
        rate stocks shares investors quarter profit losses company firm startup chipmaker
        smartphone software hackers data privacy regulation watchdog inquiry investigation
        police arrest trial verdict appeal prison judge lawyers rights freedom press
        broadcaster channel audience festival exhibition museum gallery novel author
        director actor premiere album concert league season coach striker goal victory
        defeat draw tournament championship final record medal athletes stadium fans
        weekend morning evening night capital district village rural urban coastal northern
        southern eastern western central local national regional global nearly roughly
        about almost several dozens hundreds thousands millions billion percent figures
        statistics survey poll results turnout campaign rally speech statement briefing
        visit delegation envoy ambassador embassy consulate treaty alliance partners
        neighbours rivals allies troops forces border crossing checkpoint convoy corridor
        infrastructure roads railway airport bridge housing rents mortgage construction
        cement steel wheat rice bread fuel subsidy electricity blackout heatwave rainfall
        harvest fishermen farmers traders shopkeepers drivers teachers nurses engineers
        """
    ),
    subjects=_split(
        """
        The minister|The president|Officials|The central bank|Local residents|Analysts
        The committee|The opposition|The prime minister|Researchers|The company|Investors
        The United Nations|The health ministry|Police|The court|Organisers|The coach
        The foreign ministry|Economists|Aid agencies|The governor|The mayor|Critics
        Supporters|The spokesman|Doctors|Teachers|Farmers|Engineers|The delegation
        """.replace("\n", "|"),
        "|",
    ),
    verbs=_split(
        """
        said|warned|announced|confirmed|denied|argued|insisted|expected|reported|suggested
        promised|rejected|welcomed|criticised|estimated|revealed|acknowledged|predicted
        """.replace("\n", "|"),
        "|",
    ),
    sections={
        "top": "Top stories",
        "world": "World",
        "politics": "Politics",
        "business": "Business",
        "technology": "Technology",
        "science": "Science",
        "health": "Health",
        "sport": "Sport",
        "culture": "Culture",
        "middle-east": "Middle East",
        "economy": "Economy",
        "environment": "Environment",
    },
    labels={
        "home": "Home",
        "most_read": "Most read",
        "related": "Related stories",
        "comments": "Comments",
        "cookie": "We use cookies to improve your experience, "
        "personalise content and ads, and analyse our traffic. By continuing you accept our "
        "use of cookies.",
        "accept": "Accept all",
        "settings": "Cookie settings",
        "by": "By",
        "share": "Share this story",
        "newsletter": "Sign up for our newsletter",
        "subscribe": "Subscribe",
        "reply": "Reply",
        "report": "Report",
        "about": "About us",
        "contact": "Contact",
        "privacy": "Privacy policy",
        "terms": "Terms of use",
        "careers": "Careers",
        "advertise": "Advertise",
        "copyright": "All rights reserved.",
        "read_more": "Read more",
        "live": "Live",
        "video": "Video",
        "podcasts": "Podcasts",
        "opinion": "Opinion",
        "search": "Search",
    },
)

PERSIAN = Language(
    code="fa",
    direction="rtl",
    words=_split(
        """
        دولت مجلس وزیر رئیس جمهور اقتصاد بازار نفت گاز قیمت مردم کشور ایران تهران شهر استان
        گزارش خبر امروز دیروز هفته سال ماه روز جلسه نشست توافق مذاکره امنیت سیاست خارجی داخلی
        بین‌المللی سازمان ملل شورا تصمیم برنامه طرح قانون دادگاه حکم پرونده انتخابات نامزد رأی
        حزب اعتراض اعلام کرد شد است بود خواهد می‌شود گفت افزود تاکید درباره برای با از به در
        که این آن بر تا پس پیش همچنین اما ولی نیز هنوز بسیار بیش کمتر بزرگ کوچک جدید مهم اصلی
        نخستین آخرین منطقه مرز همسایه بندر صادرات واردات تولید صنعت کشاورزی آب برق هوا آلودگی
        دانشگاه دانشجو مدرسه آموزش سلامت بیمارستان پزشک درمان ورزش فوتبال تیم بازی جام فرهنگ
        هنر کتاب فیلم سینما موسیقی فناوری اینترنت شبکه کاربران پروژه سرمایه‌گذاری بانک ارز دلار
        ریال تورم رشد بودجه هزینه درآمد مالیات کارگران حقوق زنان جوانان خانواده جامعه رسانه
        خبرنگار روزنامه مصاحبه کارشناسان مسئولان ساکنان نمایندگان کمیسیون وزارتخانه بحران
        تحریم آتش‌بس کمک پناهجویان خشکسالی سیل طوفان انرژی اقلیم خورشیدی هسته‌ای ماهواره پژوهش
        """
    ),
    subjects=_split(
        "وزیر|رئیس‌جمهور|مسئولان|بانک مرکزی|ساکنان محلی|کارشناسان|کمیسیون|نمایندگان مجلس"
        "|سخنگوی دولت|پژوهشگران|سازمان ملل|وزارت بهداشت|پلیس|دادگاه|استاندار|شهردار",
        "|",
    ),
    verbs=_split("گفت|اعلام کرد|تاکید کرد|هشدار داد|تأیید کرد|افزود|پیش‌بینی کرد", "|"),
    sections={
        "top": "مهم‌ترین اخبار",
        "world": "جهان",
        "politics": "سیاسی",
        "business": "اقتصادی",
        "technology": "فناوری",
        "science": "علمی",
        "health": "سلامت",
        "sport": "ورزشی",
        "culture": "فرهنگی",
        "middle-east": "خاورمیانه",
        "economy": "اقتصاد",
        "environment": "محیط زیست",
    },
    labels={
        "home": "خانه",
        "most_read": "پربازدیدترین‌ها",
        "related": "اخبار مرتبط",
        "comments": "نظرات",
        "cookie": "این وبگاه برای بهبود تجربه شما از کوکی استفاده می‌کند."
        " با ادامه استفاده، استفاده ما از کوکی‌ها را می‌پذیرید.",
        "accept": "پذیرش",
        "settings": "تنظیمات کوکی",
        "by": "نویسنده:",
        "share": "اشتراک‌گذاری",
        "newsletter": "عضویت در خبرنامه",
        "subscribe": "اشتراک",
        "reply": "پاسخ",
        "report": "گزارش تخلف",
        "about": "درباره ما",
        "contact": "تماس با ما",
        "privacy": "حریم خصوصی",
        "terms": "شرایط استفاده",
        "careers": "فرصت‌های شغلی",
        "advertise": "تبلیغات",
        "copyright": "کلیه حقوق محفوظ است.",
        "read_more": "بیشتر بخوانید",
        "live": "پخش زنده",
        "video": "ویدئو",
        "podcasts": "پادکست",
        "opinion": "دیدگاه",
        "search": "جستجو",
    },
    full_stop=".",
    comma="،",
)

ARABIC = Language(
    code="ar",
    direction="rtl",
    words=_split(
        """
        الحكومة الرئيس الوزير البرلمان المجلس الاقتصاد السوق النفط الغاز الأسعار الشعب الدولة
        المدينة المنطقة العاصمة التقرير الخبر اليوم أمس الأسبوع العام الشهر الاجتماع القمة
        الاتفاق المفاوضات الأمن السياسة الخارجية الداخلية الدولي المنظمة الأمم المتحدة القرار
        البرنامج المشروع القانون المحكمة الحكم الانتخابات المرشح التصويت الحزب الاحتجاجات أعلن
        قال أضاف أكد أشار حول من إلى في على عن مع بعد قبل التي الذي هذا هذه كما لكن أيضا حتى
        جدا أكثر أقل كبير صغير جديد مهم الرئيسي الأول الأخير الحدود الجوار الميناء الصادرات
        الواردات الإنتاج الصناعة الزراعة المياه الكهرباء الجامعة الطلاب المدرسة التعليم الصحة
        المستشفى الطبيب العلاج الرياضة كرة القدم الفريق المباراة البطولة الثقافة الفن الكتاب
        الفيلم السينما الموسيقى التكنولوجيا الإنترنت الشبكة المستخدمين الاستثمار البنك العملة
        الدولار التضخم النمو الميزانية التكاليف الإيرادات الضرائب العمال الرواتب النساء الشباب
        الأسرة المجتمع الإعلام الصحفي الصحيفة المقابلة المسؤولون السكان الخبراء المصادر اللجنة
        الوزارة الأزمة العقوبات الهدنة المساعدات اللاجئين الجفاف الفيضانات الطاقة المناخ
        """
    ),
    subjects=_split(
        "الوزير|الرئيس|المسؤولون|البنك المركزي|السكان المحليون|المحللون|اللجنة|المعارضة"
        "|رئيس الوزراء|الباحثون|الأمم المتحدة|وزارة الصحة|الشرطة|المحكمة|المحافظ",
        "|",
    ),
    verbs=_split("قال|أعلن|أكد|حذر|نفى|أوضح|أضاف|توقع", "|"),
    sections={
        "top": "أبرز الأخبار",
        "world": "العالم",
        "politics": "سياسة",
        "business": "أعمال",
        "technology": "تكنولوجيا",
        "science": "علوم",
        "health": "صحة",
        "sport": "رياضة",
        "culture": "ثقافة",
        "middle-east": "الشرق الأوسط",
        "economy": "اقتصاد",
        "environment": "بيئة",
    },
    labels={
        "home": "الرئيسية",
        "most_read": "الأكثر قراءة",
        "related": "أخبار ذات صلة",
        "comments": "التعليقات",
        "cookie": "يستخدم هذا الموقع ملفات تعريف الارتباط لتحسين "
        "تجربتك. باستمرارك في التصفح فإنك توافق على ذلك.",
        "accept": "موافق",
        "settings": "الإعدادات",
        "by": "بقلم",
        "share": "شارك",
        "newsletter": "النشرة البريدية",
        "subscribe": "اشترك",
        "reply": "رد",
        "report": "إبلاغ",
        "about": "من نحن",
        "contact": "اتصل بنا",
        "privacy": "سياسة الخصوصية",
        "terms": "شروط الاستخدام",
        "careers": "وظائف",
        "advertise": "أعلن معنا",
        "copyright": "جميع الحقوق محفوظة.",
        "read_more": "اقرأ المزيد",
        "live": "بث مباشر",
        "video": "فيديو",
        "podcasts": "بودكاست",
        "opinion": "رأي",
        "search": "بحث",
    },
    full_stop=".",
    comma="،",
)

FIRST_NAMES = _split(
    """
    Amina Omar Sara Daniel Leila Hassan Maria John Fatima Ali Elena Peter Nadia Karim Julia
    Thomas Zahra Reza Anna Michael Layla Yusuf Claire David Mina Samir Olga Lucas Noor Ahmed
    """
)
LAST_NAMES = _split(
    """
    Haddad Rahimi Novak Fischer Karimi Okafor Lindqvist Moreau Tehrani Santos Kowalski
    Nasser Brennan Castillo Jafari Hughes Petrov Salehi Mensah Dubois Yilmaz Aziz Larsen
    """
)
PLACES = _split(
    """
    Tehran Beirut Cairo Geneva Nairobi Ankara Baghdad Doha Vienna Brussels Jakarta Lagos
    Karachi Istanbul Muscat Tunis Amman Kabul Dhaka Caracas Havana Minsk Tbilisi Baku
    """
)
OUTLET_NAMES = _split(
    """
    Daily Meridian|Harbour Post|The Evening Ledger|Northern Courier|Global Dispatch
    Kayhan Online|Capital Observer|Coastal Herald|The Plain Times|Al Minbar
    Valley Chronicle|Metro Bulletin|Continental Review|The Morning Star Gazette
    Riverside Journal|Summit Wire
    """.replace("\n", "|"),
    "|",
)


def language_for(outlet_index: int) -> Language:
    """Most outlets write English; every twelfth-cycle slot 5 is Persian and slot 9 Arabic."""
    slot = outlet_index % 12
    if slot == 5:
        return PERSIAN
    if slot == 9:
        return ARABIC
    return ENGLISH


def headline(rng: random.Random, lang: Language) -> str:
    """A headline of 6-11 words, with a place or person for English outlets."""
    words = rng.sample(lang.words, rng.randint(5, 9))
    if lang is ENGLISH:
        words.insert(rng.randrange(len(words)), rng.choice(PLACES))
        words.insert(rng.randrange(len(words)), rng.choice(LAST_NAMES))
    text = " ".join(words)
    return text[0].upper() + text[1:]


def sentence(rng: random.Random, lang: Language) -> str:
    """One sentence of news prose: a subject, a verb and 6-24 sampled words."""
    filler = [rng.choice(lang.words) for _ in range(rng.randint(6, 24))]
    if lang is ENGLISH and rng.random() < 0.4:
        filler.insert(rng.randrange(len(filler)), rng.choice(PLACES))
    if rng.random() < 0.35:
        filler.insert(rng.randrange(1, len(filler)), filler.pop(0) + lang.comma)
    if lang is ENGLISH and rng.random() < 0.3:
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        return f"{name}, {rng.choice(filler)} {rng.choice(lang.verbs)} {' '.join(filler)}."
    subject = rng.choice(lang.subjects)
    return f"{subject} {rng.choice(lang.verbs)} {' '.join(filler)}{lang.full_stop}"


def person(rng: random.Random) -> str:
    """A reporter's or commenter's name."""
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
