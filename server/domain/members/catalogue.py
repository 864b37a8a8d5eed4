"""The member field catalogue: every field of 《工会会员登记表》 described once.

The model's columns, the API schemas, Excel import/export columns, the printed form and the
query language are all generated from this table, so a new field is one entry here (and a
line in schema.sql, regenerated). Nothing else in the code lists member fields.
"""

from __future__ import annotations

from dataclasses import dataclass

# Who may edit a field: the member themself, sub-union staff, school-union staff.
SELF = "self"
SUB_UNION = "sub_union"
SCHOOL = "school"
STAFF = frozenset({SUB_UNION, SCHOOL})
EVERYONE = frozenset({SELF, SUB_UNION, SCHOOL})
SCHOOL_ONLY = frozenset({SCHOOL})

TEXT, LONGTEXT, DATE, CHOICE, MULTI, LIST, REF = "text", "longtext", "date", "choice", "multi_choice", "list", "ref"

GROUPS: dict[str, str] = {
    "identity": "基本信息",
    "contact": "联系方式",
    "education": "学历学位",
    "employment": "工作信息",
    "union": "会籍信息",
    "family": "家庭情况",
    "personal": "个人情况",
}

ETHNICITIES = (
    "汉族", "蒙古族", "回族", "藏族", "维吾尔族", "苗族", "彝族", "壮族", "布依族", "朝鲜族", "满族", "侗族",
    "瑶族", "白族", "土家族", "哈尼族", "哈萨克族", "傣族", "黎族", "傈僳族", "佤族", "畲族", "高山族",
    "拉祜族", "水族", "东乡族", "纳西族", "景颇族", "柯尔克孜族", "土族", "达斡尔族", "仫佬族", "羌族",
    "布朗族", "撒拉族", "毛南族", "仡佬族", "锡伯族", "阿昌族", "普米族", "塔吉克族", "怒族", "乌孜别克族",
    "俄罗斯族", "鄂温克族", "德昂族", "保安族", "裕固族", "京族", "塔塔尔族", "独龙族", "鄂伦春族",
    "赫哲族", "门巴族", "珞巴族", "基诺族", "其他", "外国血统",
)
ID_TYPES = ("居民身份证", "港澳台居民居住证", "港澳居民来往内地通行证", "台湾居民来往大陆通行证", "护照", "外国人永久居留身份证")
POLITICAL = (
    "中共党员", "中共预备党员", "共青团员", "民革党员", "民盟盟员", "民建会员", "民进会员", "农工党党员",
    "致公党党员", "九三学社社员", "台盟盟员", "无党派人士", "群众",
)
EDUCATION = ("博士研究生", "硕士研究生", "大学本科", "大学专科", "中等专科", "高中", "初中及以下")
DEGREE = ("博士", "硕士", "学士", "无")
TITLE_LEVELS = ("正高", "副高", "中级", "初级", "高级技师", "技师", "高级工", "中级工", "初级工", "无")
POST_CATEGORIES = ("专任教师", "管理", "其他专技", "工勤")
EMPLOYMENT_TYPES = ("事业编制", "人事代理", "合同制", "劳务派遣", "返聘")
EMPLOYMENT_STATUS = ("在职", "退休", "离职", "去世")
MEMBERSHIP_STATUS = ("正常", "保留会籍", "转出", "退会", "注销")
UNION_POSTS = (
    "工会主席", "工会副主席", "工会委员", "经审委员", "女工委员", "分工会主席", "分工会副主席",
    "分工会委员", "工会小组长", "会员代表",
)
YES_NO = ("是", "否")
MODEL_WORKER = ("全国劳动模范", "省部级劳动模范", "市级劳动模范", "省部级先进工作者", "校级先进个人", "无")
HARDSHIP = ("无", "一般困难", "深度困难", "意外致困")
MARITAL = ("未婚", "已婚", "离异", "丧偶")
GENDERS = ("男", "女")


@dataclass(frozen=True)
class FieldDef:
    code: str
    label: str
    group: str
    type: str
    choices: tuple[str, ...] = ()
    required: bool = False
    max_length: int | None = None
    sensitive: bool = False
    unique: bool = False
    editable_by: frozenset[str] = STAFF
    check: str | None = None  # a named rule in server.domain.members.validation
    items: tuple[FieldDef, ...] = ()  # the parts of one entry of a LIST field
    max_items: int | None = None
    help: str = ""
    column: str = ""  # the model attribute; defaults to the code
    # How the Excel import normalises what an office types into this field before checking
    # it: "name", "number", "mobile", "code", "halfwidth" (server.domain.members.normalise).
    normalise: str = ""

    @property
    def attr(self) -> str:
        return self.column or self.code

    def public(self) -> dict:
        """The field as GET /api/v1/fields shows it."""
        out = {
            "code": self.code,
            "label": self.label,
            "group": self.group,
            "group_label": GROUPS[self.group],
            "type": self.type,
            "required": self.required,
            "sensitive": self.sensitive,
            "unique": self.unique,
            "editable_by": sorted(self.editable_by),
        }
        if self.choices:
            out["choices"] = list(self.choices)
        if self.max_length:
            out["max_length"] = self.max_length
        if self.items:
            out["item_fields"] = [i.public() for i in self.items]
        if self.max_items:
            out["max_items"] = self.max_items
        if self.help:
            out["help"] = self.help
        return out


def _f(code: str, label: str, group: str, type_: str = TEXT, **kw) -> FieldDef:  # noqa: ANN003
    if type_ == TEXT:
        kw.setdefault("max_length", 100)
    if type_ == LONGTEXT:
        kw.setdefault("max_length", 2000)
    return FieldDef(code, label, group, type_, **kw)


CHILD_ITEMS = (
    _f("name", "姓名", "family", required=True, max_length=50, normalise="name"),
    _f("gender", "性别", "family", CHOICE, choices=GENDERS, required=True),
    _f("birth_date", "出生日期", "family", DATE, required=True, check="past_date"),
)

CATALOGUE: tuple[FieldDef, ...] = (
    # identity
    _f("name", "姓名", "identity", required=True, max_length=50, check="person_name", normalise="name"),
    _f("gender", "性别", "identity", CHOICE, choices=GENDERS, required=True),
    _f("ethnicity", "民族", "identity", CHOICE, choices=ETHNICITIES),
    _f("birth_date", "出生日期", "identity", DATE, required=True, check="birth_date"),
    _f("id_type", "证件类型", "identity", CHOICE, choices=ID_TYPES, help="缺省为居民身份证"),
    _f("id_number", "证件号码", "identity", max_length=30, sensitive=True, unique=True, check="id_number",
       normalise="number",
       help="居民身份证校验 GB 11643 校验位，且须与出生日期、性别一致"),
    _f("native_place", "籍贯", "identity", max_length=50),
    _f("household_registration", "户籍所在地", "identity", max_length=100),
    _f("political_status", "政治面貌", "identity", CHOICE, choices=POLITICAL),
    _f("photo", "照片", "identity", max_length=255, editable_by=EVERYONE, help="照片文件地址"),
    # contact
    _f("mobile", "手机号码", "contact", max_length=11, sensitive=True, editable_by=EVERYONE, check="mobile",
       normalise="mobile"),
    _f("office_phone", "办公电话", "contact", max_length=30, editable_by=EVERYONE, check="phone",
       normalise="halfwidth"),
    _f("email", "电子邮箱", "contact", max_length=100, editable_by=EVERYONE, check="email",
       normalise="halfwidth"),
    _f("home_address", "家庭住址", "contact", max_length=200, sensitive=True, editable_by=EVERYONE),
    # education
    _f("education", "学历", "education", CHOICE, choices=EDUCATION),
    _f("degree", "学位", "education", CHOICE, choices=DEGREE),
    _f("graduate_school", "毕业院校", "education", max_length=100),
    _f("major", "所学专业", "education", max_length=100),
    # employment
    _f("staff_no", "工号", "employment", max_length=32, unique=True, check="staff_no", normalise="code"),
    _f("department", "所在单位/部门", "employment", max_length=100),
    _f("sub_union", "所属分工会", "employment", REF, required=True, editable_by=SCHOOL_ONLY,
       column="sub_union_id", help="分工会之间的调动走转会流程"),
    _f("position", "职务", "employment", max_length=50),
    _f("title", "专业技术职称/技术等级", "employment", max_length=50),
    _f("title_level", "级别", "employment", CHOICE, choices=TITLE_LEVELS),
    _f("post_category", "岗位类别", "employment", CHOICE, choices=POST_CATEGORIES),
    _f("employment_type", "用工性质", "employment", CHOICE, choices=EMPLOYMENT_TYPES),
    _f("work_start_date", "参加工作时间", "employment", DATE, check="past_date"),
    _f("school_join_date", "来校时间", "employment", DATE, check="past_date"),
    _f("employment_status", "人员状态", "employment", CHOICE, choices=EMPLOYMENT_STATUS,
       editable_by=SCHOOL_ONLY, help="离职、退休、去世走状态变更流程"),
    # union
    _f("member_no", "会员证号", "union", max_length=20, unique=True, editable_by=SCHOOL_ONLY,
       help="入会审批通过时发放", normalise="code"),
    _f("union_join_date", "入会时间", "union", DATE, editable_by=SCHOOL_ONLY, check="past_date"),
    _f("membership_status", "会籍状态", "union", CHOICE, choices=MEMBERSHIP_STATUS, editable_by=SCHOOL_ONLY),
    _f("union_posts", "工会职务", "union", MULTI, choices=UNION_POSTS),
    _f("is_congress_delegate", "是否教代会代表", "union", CHOICE, choices=YES_NO),
    _f("model_worker", "劳模/先进", "union", CHOICE, choices=MODEL_WORKER),
    _f("hardship_level", "困难职工类别", "union", CHOICE, choices=HARDSHIP, sensitive=True),
    _f("honors", "获得荣誉", "union", LONGTEXT, max_length=1000),
    # family
    _f("marital_status", "婚姻状况", "family", CHOICE, choices=MARITAL, editable_by=EVERYONE),
    _f("spouse_name", "配偶姓名", "family", max_length=50, editable_by=EVERYONE, normalise="name"),
    _f("spouse_employer", "配偶工作单位", "family", max_length=100, editable_by=EVERYONE),
    _f("children", "子女信息", "family", LIST, items=CHILD_ITEMS, max_items=10, editable_by=EVERYONE,
       help="每个子女：姓名、性别、出生日期"),
    # personal
    _f("resume", "个人简历", "personal", LONGTEXT, editable_by=EVERYONE, help="学习与工作经历，每段一行"),
    _f("hobbies", "兴趣爱好/特长", "personal", max_length=200, editable_by=EVERYONE),
    _f("remarks", "备注", "personal", LONGTEXT, max_length=500),
)

BY_CODE: dict[str, FieldDef] = {f.code: f for f in CATALOGUE}
BY_LABEL: dict[str, FieldDef] = {f.label: f for f in CATALOGUE}
SENSITIVE: frozenset[str] = frozenset(f.code for f in CATALOGUE if f.sensitive)
UNIQUE: tuple[FieldDef, ...] = tuple(f for f in CATALOGUE if f.unique)

assert len(CATALOGUE) == 44, "DESIGN.md's registration form has 44 fields"


def editable(level: str) -> frozenset[str]:
    """Codes of the fields a given level (SELF, SUB_UNION, SCHOOL) may change."""
    return frozenset(f.code for f in CATALOGUE if level in f.editable_by)

