"""Plausible generated members, for the demo school and for benchmarks.

:class:`MemberGenerator` turns a seed into a stream of member value dicts keyed by catalogue
field codes (``sub_union`` as an id, dates as ISO strings, as the API receives them), each of
which passes :func:`server.domain.members.validation.clean`. The values hang together the way
a real 《工会会员登记表》 does: the ID number carries the birth date and gender and a region
code that existed in the birth year; education, degree, title, title level and post category
agree; study, work, school and union dates follow one another and the resume tells the same
story; retirees are 60–85 and sit in the retirees' sub-union with 保留会籍.

Numbers that must be unique:

* ``staff_no`` (工号): 8 digits, the two-digit year of ``school_join_date`` followed by a
  6-digit serial (``15000123``); the serial counts up from ``start``.
* ``member_no`` (会员证号): 9 digits, the year of ``union_join_date`` followed by a 5-digit
  sequence within that year (``201800123``).
* ``id_number``: drawn at random; a repeat draws another order code.

A generator seeded with the numbers already in use (:func:`generator_for`) never repeats one
of them, so seeding a database twice does not collide. :func:`insert_members` writes many
members at once with one Core ``INSERT`` executemany per batch.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from pypinyin import lazy_pinyin
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from stdnum.cn import ric

from server.core.timeutil import local_today, utcnow
from server.domain.members import catalogue as cat
from server.domain.members import pinyin
from server.domain.members.models import Member
from server.domain.org.models import SubUnion

BATCH_SIZE = 2000
EMAIL_DOMAIN = "demo.edu.cn"
ACTIVE, RETIRED, LEFT = "在职", "退休", "离职"

# ---- names --------------------------------------------------------------------------------

# Common surnames, weighted roughly by how often they occur (per mille, rounded).
SURNAMES: tuple[tuple[str, int], ...] = (
    ("王", 72), ("李", 72), ("张", 69), ("刘", 54), ("陈", 45), ("杨", 31), ("赵", 23), ("黄", 22),
    ("周", 21), ("吴", 20), ("徐", 17), ("孙", 15), ("胡", 13), ("朱", 13), ("高", 13), ("林", 12),
    ("何", 12), ("郭", 12), ("马", 12), ("罗", 10), ("梁", 9), ("宋", 9), ("郑", 9), ("谢", 8),
    ("韩", 8), ("唐", 8), ("冯", 7), ("于", 7), ("董", 7), ("萧", 2), ("程", 6), ("曹", 6), ("袁", 6),
    ("邓", 6), ("许", 6), ("傅", 5), ("沈", 5), ("曾", 5), ("彭", 5), ("吕", 5), ("苏", 5), ("卢", 5),
    ("蒋", 5), ("蔡", 5), ("贾", 4), ("丁", 4), ("魏", 4), ("薛", 4), ("叶", 4), ("阎", 3), ("余", 4),
    ("潘", 4), ("杜", 4), ("戴", 3), ("夏", 3), ("钟", 3), ("汪", 3), ("田", 3), ("任", 3), ("姜", 3),
    ("范", 3), ("方", 3), ("石", 3), ("姚", 3), ("谭", 3), ("廖", 3), ("邹", 3), ("熊", 3), ("金", 3),
    ("陆", 3), ("郝", 3), ("孔", 3), ("白", 3), ("崔", 3), ("康", 3), ("毛", 3), ("邱", 3), ("秦", 3),
    ("江", 3), ("史", 3), ("顾", 2), ("侯", 2), ("邵", 2), ("孟", 2), ("龙", 2), ("万", 2), ("段", 2),
    ("雷", 2), ("钱", 2), ("汤", 2), ("尹", 2), ("黎", 2), ("易", 2), ("常", 2), ("武", 2), ("乔", 2),
    ("贺", 2), ("赖", 2), ("龚", 2), ("文", 2), ("庞", 1), ("樊", 1), ("兰", 1), ("殷", 1), ("施", 1),
    ("陶", 1), ("洪", 1), ("翟", 1), ("安", 1), ("颜", 1), ("倪", 1), ("严", 1), ("牛", 1), ("温", 1),
    ("芦", 1), ("季", 1), ("俞", 1), ("章", 1), ("鲁", 1), ("葛", 1), ("伍", 1), ("申", 1), ("尤", 1),
    ("毕", 1), ("聂", 1), ("焦", 1), ("向", 1), ("柳", 1), ("邢", 1), ("岳", 1), ("齐", 1), ("梅", 1),
    ("莫", 1), ("庄", 1), ("辛", 1), ("管", 1), ("祝", 1), ("左", 1), ("涂", 1), ("谷", 1), ("耿", 1),
    ("欧阳", 1), ("司马", 1), ("上官", 1), ("诸葛", 1),
)
_SURNAME_LIST = [s for s, _ in SURNAMES]
_SURNAME_CUM = list(itertools.accumulate(w for _, w in SURNAMES))
_COMPOUND_SURNAMES = frozenset(s for s in _SURNAME_LIST if len(s) > 1)

GIVEN_MALE = (
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞", "鑫",
    "波", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭", "宁", "龙", "林", "成", "建", "国", "志", "海",
    "峰", "亮", "东", "文", "博", "晨", "思", "远", "哲", "睿", "泽", "昊", "然", "轩", "洋", "振", "立",
    "新", "春", "长", "永", "云", "光", "天", "利", "兵", "金", "中", "庆", "学", "祥", "彬", "毅", "铭",
    "瑞", "嘉", "晓", "一", "子", "逸", "航", "澄", "骏", "锐", "晖", "阳", "朗", "恒", "松", "柏", "川",
)
GIVEN_FEMALE = (
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "燕", "玲", "丹", "萍", "红", "玉", "兰", "琳",
    "婷", "雪", "慧", "颖", "洁", "倩", "佳", "晶", "莉", "月", "璐", "琪", "欣", "怡", "悦", "梦", "晓",
    "蕾", "薇", "雯", "媛", "楠", "婧", "瑶", "晗", "涵", "诗", "雨", "馨", "妍", "思", "文", "春", "梅",
    "凤", "琴", "云", "英", "华", "莹", "宁", "爽", "露", "岚", "菲", "彤", "茜", "蓉", "青", "晴", "韵",
    "一", "子", "可", "心", "嘉", "若", "语", "安", "然", "依", "亚", "金", "淑", "桂", "丽", "珊", "瑾",
)
# Whole given names typical of people born before the mid-1960s.
ERA_MALE = ("建国", "建华", "国庆", "卫东", "卫国", "红兵", "向东", "建军", "跃进", "援朝", "志刚", "振华",
            "保国", "永生", "胜利", "德明", "树林", "长河", "建设", "解放", "国华", "建平", "立新", "学军")
ERA_FEMALE = ("秀英", "桂兰", "秀兰", "玉兰", "桂英", "凤英", "淑珍", "秀珍", "玉梅", "淑华", "桂芝", "红梅",
              "素芬", "凤兰", "丽华", "爱华", "建英", "玉珍", "桂荣", "美华", "卫红", "红霞", "秀芳", "淑兰")

# ---- places -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    code: str  # the six-digit 行政区划代码 of the ID number
    native_place: str  # 籍贯, as a form says it
    registration: str  # 户籍所在地, today's name of the place
    first_year: int  # birth years for which the code is valid (stdnum.cn.ric checks it)
    last_year: int
    weight: int


_OPEN = 9999
# Hebei codes since the 1983 reorganisation, the 地区 codes before it, and Beijing and Tianjin
# districts that never changed. A person born before 1983 carries an old code.
REGIONS: tuple[Region, ...] = (
    Region("130302", "河北秦皇岛", "河北省秦皇岛市海港区", 1983, _OPEN, 14),
    Region("130303", "河北秦皇岛", "河北省秦皇岛市山海关区", 1983, _OPEN, 4),
    Region("130304", "河北秦皇岛", "河北省秦皇岛市北戴河区", 1983, _OPEN, 3),
    Region("130321", "河北青龙", "河北省秦皇岛市青龙满族自治县", 1983, _OPEN, 2),
    Region("130322", "河北昌黎", "河北省秦皇岛市昌黎县", 1983, _OPEN, 3),
    Region("130324", "河北卢龙", "河北省秦皇岛市卢龙县", 1983, _OPEN, 2),
    Region("130102", "河北石家庄", "河北省石家庄市长安区", 1983, _OPEN, 3),
    Region("130104", "河北石家庄", "河北省石家庄市桥西区", 1983, _OPEN, 3),
    Region("130105", "河北石家庄", "河北省石家庄市新华区", 1983, _OPEN, 2),
    Region("130108", "河北石家庄", "河北省石家庄市裕华区", 2001, _OPEN, 2),
    Region("130202", "河北唐山", "河北省唐山市路南区", 1983, _OPEN, 3),
    Region("130203", "河北唐山", "河北省唐山市路北区", 1983, _OPEN, 3),
    Region("130402", "河北邯郸", "河北省邯郸市邯山区", 1983, _OPEN, 2),
    Region("130403", "河北邯郸", "河北省邯郸市丛台区", 1983, _OPEN, 2),
    Region("130602", "河北保定", "河北省保定市竞秀区", 1983, _OPEN, 3),
    Region("130702", "河北张家口", "河北省张家口市桥东区", 1983, _OPEN, 1),
    Region("130802", "河北承德", "河北省承德市双桥区", 1983, _OPEN, 2),
    Region("130902", "河北沧州", "河北省沧州市新华区", 1983, _OPEN, 2),
    Region("131002", "河北廊坊", "河北省廊坊市安次区", 1988, _OPEN, 2),
    Region("131102", "河北衡水", "河北省衡水市桃城区", 1996, _OPEN, 1),
    Region("132701", "河北秦皇岛", "河北省秦皇岛市海港区", 1900, 1983, 14),
    Region("132726", "河北昌黎", "河北省秦皇岛市昌黎县", 1900, 1983, 3),
    Region("132727", "河北抚宁", "河北省秦皇岛市抚宁区", 1900, 1983, 3),
    Region("132728", "河北卢龙", "河北省秦皇岛市卢龙县", 1900, 1983, 2),
    Region("132621", "河北青龙", "河北省秦皇岛市青龙满族自治县", 1900, 1983, 2),
    Region("132723", "河北滦县", "河北省唐山市滦州市", 1900, 1983, 2),
    Region("132731", "河北遵化", "河北省唐山市遵化市", 1900, 1983, 2),
    Region("132101", "河北邯郸", "河北省邯郸市丛台区", 1900, 1983, 2),
    Region("132501", "河北张家口", "河北省张家口市桥东区", 1900, 1983, 1),
    Region("132601", "河北承德", "河北省承德市双桥区", 1900, 1983, 2),
    Region("132901", "河北沧州", "河北省沧州市新华区", 1900, 1983, 2),
    Region("132326", "河北赵县", "河北省石家庄市赵县", 1900, 1993, 1),
    Region("132335", "河北平山", "河北省石家庄市平山县", 1900, 1993, 1),
    Region("132421", "河北易县", "河北省保定市易县", 1900, 1994, 1),
    Region("132427", "河北唐县", "河北省保定市唐县", 1900, 1994, 1),
    Region("132923", "河北肃宁", "河北省沧州市肃宁县", 1900, 1993, 1),
    Region("132924", "河北献县", "河北省沧州市献县", 1900, 1993, 1),
    Region("133028", "河北安平", "河北省衡水市安平县", 1900, 1996, 1),
    Region("132521", "河北张北", "河北省张家口市张北县", 1900, 1993, 1),
    Region("132623", "河北兴隆", "河北省承德市兴隆县", 1900, 1993, 1),
    Region("110101", "北京", "北京市东城区", 1900, _OPEN, 1),
    Region("110102", "北京", "北京市西城区", 1900, _OPEN, 1),
    Region("110105", "北京", "北京市朝阳区", 1900, _OPEN, 1),
    Region("110108", "北京", "北京市海淀区", 1900, _OPEN, 1),
    Region("120101", "天津", "天津市和平区", 1900, _OPEN, 1),
    Region("120103", "天津", "天津市河西区", 1900, _OPEN, 1),
    Region("120104", "天津", "天津市南开区", 1900, _OPEN, 1),
)
# Native places from further away, for people whose family moved to Hebei.
FAR_NATIVE = ("山东烟台", "山东潍坊", "山东德州", "辽宁沈阳", "辽宁锦州", "辽宁葫芦岛", "黑龙江哈尔滨",
              "吉林长春", "山西大同", "河南安阳", "内蒙古赤峰", "江苏徐州", "湖北武汉", "四川成都")
LOCAL_REGISTRATION = ("河北省秦皇岛市海港区", "河北省秦皇岛市海港区", "河北省秦皇岛市海港区",
                      "河北省秦皇岛市北戴河区", "河北省秦皇岛市山海关区", "河北省秦皇岛市抚宁区")
DISTRICTS = ("海港区", "海港区", "海港区", "北戴河区", "山海关区", "经济技术开发区")
ROADS = ("河北大街", "文化路", "建设大街", "迎宾路", "秦皇东大街", "秦皇西大街", "燕山大街", "友谊路",
         "民族路", "红旗路", "太阳城路", "海阳路", "西港路", "和平大街", "港城大街", "北环路", "白塔岭路")
COMPOUNDS = ("教师公寓", "学府花园", "海景家园", "燕大小区", "金海湾", "红旗里", "文化里", "建设里",
             "远洋城", "海洋新城", "恒大名都", "融创观澜府", "金屋秦皇半岛", "玉峰小区", "东环里")
LOCAL_AREA_CODE = "0335"

# ---- study and work -----------------------------------------------------------------------

TOP_SCHOOLS = ("清华大学", "北京大学", "哈尔滨工业大学", "天津大学", "南开大学", "北京航空航天大学",
               "北京理工大学", "大连理工大学", "东北大学", "吉林大学", "浙江大学", "上海交通大学",
               "西安交通大学", "华中科技大学", "中国科学院大学", "北京科技大学", "中国人民大学",
               "北京师范大学", "武汉大学", "山东大学", "同济大学", "燕山大学", "河北工业大学")
UNIVERSITIES = ("燕山大学", "河北大学", "河北师范大学", "河北工业大学", "河北科技大学", "河北农业大学",
                "河北经贸大学", "华北电力大学", "石家庄铁道大学", "河北医科大学", "华北理工大学",
                "东北石油大学", "天津师范大学", "山东师范大学", "辽宁大学", "东北师范大学", "山西大学",
                "郑州大学", "河北建筑工程学院", "河北科技师范学院", "东北大学秦皇岛分校", *TOP_SCHOOLS)
LOCAL_UNIVERSITIES = UNIVERSITIES[:21]  # the Hebei and neighbouring ones, before TOP_SCHOOLS
COLLEGES = ("秦皇岛职业技术学院", "河北工业职业技术学院", "石家庄职业技术学院", "唐山工业职业技术学院",
            "河北建材职业技术学院", "河北政法职业学院", "河北科技工程职业技术大学")
SECONDARY = ("秦皇岛市卫生学校", "秦皇岛市职业技术学校", "唐山市工业学校", "河北省秦皇岛市商业学校")
HIGH_SCHOOLS = ("秦皇岛市第一中学", "秦皇岛市第二中学", "秦皇岛市第五中学", "昌黎第一中学",
                "抚宁区第一中学", "卢龙县中学", "山海关第一中学")

# Unit kinds, from the sub-union's name: (keyword, kind). First match wins.
UNIT_KINDS = (("离退休", "retirees"), ("机关", "office"), ("后勤", "logistics"), ("图书馆", "library"),
              ("信息化", "it"), ("医院", "hospital"), ("附属中学", "school"), ("中学", "school"))
POST_MIX: dict[str, tuple[tuple[str, int], ...]] = {
    "college": (("专任教师", 76), ("管理", 12), ("其他专技", 9), ("工勤", 3)),
    "office": (("管理", 84), ("其他专技", 10), ("工勤", 6)),
    "logistics": (("工勤", 58), ("管理", 26), ("其他专技", 16)),
    "library": (("其他专技", 68), ("管理", 22), ("工勤", 10)),
    "it": (("其他专技", 70), ("管理", 25), ("工勤", 5)),
    "hospital": (("其他专技", 80), ("管理", 12), ("工勤", 8)),
    "school": (("专任教师", 80), ("管理", 12), ("工勤", 8)),
}
OFFICE_DEPARTMENTS = ("党委办公室", "校长办公室", "组织部", "宣传部", "纪委办公室", "人事处", "教务处",
                      "科学技术处", "财务处", "学生工作处", "研究生院", "国际合作与交流处", "资产管理处",
                      "审计处", "发展规划处", "保卫处", "校工会")
DEFAULT_UNITS = ("计算机学院", "电气工程学院", "机械工程学院", "材料科学与工程学院", "经济管理学院",
                 "外国语学院", "理学院", "文法学院", "艺术与设计学院", "马克思主义学院")
MAJORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("计算机", ("计算机科学与技术", "软件工程", "计算机应用技术", "网络工程", "人工智能")),
    ("电气", ("电气工程", "电力系统及其自动化", "控制科学与工程", "电子信息工程")),
    ("机械", ("机械工程", "机械设计及理论", "机械电子工程", "车辆工程")),
    ("材料", ("材料科学与工程", "材料物理与化学", "冶金工程", "材料加工工程")),
    ("化学", ("化学", "化学工程与技术", "应用化学", "环境工程")),
    ("经济", ("管理科学与工程", "会计学", "工商管理", "金融学", "应用经济学")),
    ("文法", ("法学", "汉语言文学", "新闻学", "社会学")),
    ("外国语", ("英语语言文学", "外国语言学及应用语言学", "日语语言文学", "俄语语言文学", "翻译")),
    ("理学", ("数学", "应用数学", "物理学", "统计学", "光学工程")),
    ("马克思", ("马克思主义理论", "思想政治教育", "哲学", "中共党史")),
    ("艺术", ("设计学", "美术学", "音乐学", "视觉传达设计")),
    ("体育", ("体育教育训练学", "体育人文社会学", "运动人体科学", "体育教育")),
    ("图书馆", ("图书情报与档案管理", "图书馆学", "情报学", "计算机科学与技术")),
    ("信息化", ("计算机科学与技术", "软件工程", "通信工程", "网络工程")),
    ("医院", ("临床医学", "护理学", "医学影像学", "药学", "内科学", "外科学")),
    ("中学", ("汉语言文学", "数学与应用数学", "英语", "物理学", "化学", "生物科学", "历史学")),
    ("继续教育", ("教育学", "成人教育学", "管理科学与工程", "计算机科学与技术")),
    ("机关", ("行政管理", "公共管理", "会计学", "法学", "汉语言文学", "思想政治教育", "教育学")),
    ("后勤", ("工程管理", "电气工程及其自动化", "食品科学与工程", "物业管理", "土木工程")),
)
TRADE_MAJORS = ("机电一体化技术", "电气自动化技术", "烹饪工艺与营养", "汽车检测与维修技术", "物业管理",
                "建筑工程技术", "园林技术", "计算机应用技术")

# Education: (name, degree, years of study, school pool, age at enrolment)
EDU_ORDER = ("博士研究生", "硕士研究生", "大学本科", "大学专科", "中等专科", "高中", "初中及以下")
EDU_MIX: dict[str, tuple[tuple[str, int], ...]] = {
    "专任教师": (("博士研究生", 58), ("硕士研究生", 32), ("大学本科", 10)),
    "管理": (("博士研究生", 8), ("硕士研究生", 42), ("大学本科", 44), ("大学专科", 6)),
    "其他专技": (("博士研究生", 10), ("硕士研究生", 45), ("大学本科", 38), ("大学专科", 7)),
    "工勤": (("大学本科", 8), ("大学专科", 32), ("中等专科", 25), ("高中", 25), ("初中及以下", 10)),
}

# Titles per series, by level 正高/副高/中级/初级.
TITLE_SERIES: dict[str, tuple[str, str, str, str]] = {
    "teacher": ("教授", "副教授", "讲师", "助教"),
    "school": ("正高级教师", "高级教师", "一级教师", "二级教师"),
    "research": ("研究员", "副研究员", "助理研究员", "研究实习员"),
    "engineer": ("正高级工程师", "高级工程师", "工程师", "助理工程师"),
    "lab": ("正高级实验师", "高级实验师", "实验师", "助理实验师"),
    "library": ("研究馆员", "副研究馆员", "馆员", "助理馆员"),
    "doctor": ("主任医师", "副主任医师", "主治医师", "医师"),
    "nurse": ("主任护师", "副主任护师", "主管护师", "护师"),
    "accountant": ("正高级会计师", "高级会计师", "会计师", "助理会计师"),
}
PRO_LEVELS = ("正高", "副高", "中级", "初级")
WORKER_LEVELS = ("高级技师", "技师", "高级工", "中级工", "初级工")
# The highest level a career reaches, by education (years at work decide how far along it is).
PRO_CEILING: dict[str, tuple[tuple[str, int], ...]] = {
    "博士研究生": (("正高", 50), ("副高", 45), ("中级", 5)),
    "硕士研究生": (("正高", 22), ("副高", 50), ("中级", 28)),
    "大学本科": (("正高", 12), ("副高", 45), ("中级", 38), ("初级", 5)),
    "其他": (("副高", 15), ("中级", 55), ("初级", 30)),
}
WORKER_CEILING = (("高级技师", 8), ("技师", 25), ("高级工", 45), ("中级工", 17), ("初级工", 5))

TEACHER_POSTS = (("院长", 1), ("副院长", 3), ("系主任", 5), ("副系主任", 4), ("教研室主任", 6),
                 ("实验室主任", 2), ("研究所所长", 2))
ADMIN_POSTS = ("科员", "科员", "科员", "副科长", "科长", "副处长", "处长")
COLLEGE_ADMIN_POSTS = ("教学秘书", "科研秘书", "辅导员", "辅导员", "办公室主任", "党委副书记", "研究生秘书")

MINORITIES = (("满族", 40), ("回族", 18), ("蒙古族", 14), ("朝鲜族", 6), ("土家族", 5), ("壮族", 5),
              ("苗族", 3), ("藏族", 2), ("维吾尔族", 2), ("彝族", 2), ("锡伯族", 1), ("达斡尔族", 1))
PARTIES = ("九三学社社员", "民盟盟员", "民进会员", "农工党党员", "民建会员", "致公党党员", "民革党员")
HOBBIES = ("读书", "摄影", "书法", "绘画", "乒乓球", "羽毛球", "篮球", "足球", "游泳", "跑步", "太极拳",
           "登山", "徒步", "骑行", "钢琴", "古筝", "合唱", "京剧", "舞蹈", "围棋", "象棋", "桥牌", "园艺",
           "烹饪", "旅游", "垂钓", "健身", "瑜伽", "集邮", "诗词", "网球", "排球", "二胡", "葫芦丝", "编程")
SPOUSE_EMPLOYERS = ("本校", "秦皇岛市第一医院", "秦皇岛市妇幼保健院", "中国银行秦皇岛分行", "中国工商银行秦皇岛分行",
                    "秦皇岛市海港区实验学校", "秦皇岛市第一中学", "秦皇岛港股份有限公司", "国网秦皇岛供电公司",
                    "秦皇岛市税务局", "秦皇岛市海港区人民政府", "中信戴卡股份有限公司", "河北环境工程学院",
                    "东北大学秦皇岛分校", "秦皇岛市公安局", "哈电集团（秦皇岛）重型装备有限公司", "个体经营",
                    "自由职业", "秦皇岛日报社", "中国移动秦皇岛分公司")
MOBILE_PREFIXES = ("130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
                   "153", "155", "156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182",
                   "183", "185", "186", "187", "188", "189", "191", "198", "199")
MAIL_HOSTS = ("163.com", "126.com", "qq.com", "sina.com", "foxmail.com")


def _years_after(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _choice(rng: random.Random, seq: Sequence[Any]) -> Any:
    return seq[int(rng.random() * len(seq))]


def _randint(rng: random.Random, a: int, b: int) -> int:
    """Like ``rng.randint``, a few times faster (this runs a hundred thousand times a second)."""
    return a + int(rng.random() * (b - a + 1))


_CUMULATIVE: dict[tuple[tuple[str, int], ...], tuple[tuple[str, ...], tuple[int, ...]]] = {}


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    """One of the values, chosen with the given weights."""
    table = _CUMULATIVE.get(weighted)
    if table is None:
        table = _CUMULATIVE[weighted] = (tuple(v for v, _ in weighted),
                                         tuple(itertools.accumulate(w for _, w in weighted)))
    values, cum = table
    return values[bisect.bisect_right(cum, rng.random() * cum[-1])]


@lru_cache(maxsize=256)
def _regions_for(year: int) -> tuple[tuple[Region, ...], tuple[int, ...]]:
    pool = tuple(r for r in REGIONS if r.first_year <= year <= r.last_year)
    return pool, tuple(itertools.accumulate(r.weight for r in pool))


def make_id_number(region_code: str, born: date, order: int) -> str:
    """A 居民身份证 number: region, birth date, order code (odd for men), check digit."""
    first17 = f"{region_code}{born.year:04d}{born.month:02d}{born.day:02d}{order:03d}"
    return first17 + ric.calc_check_digit(first17 + "0")  # it reads the first 17 of 18 digits


def unit_kind(unit_name: str) -> str:
    for keyword, kind in UNIT_KINDS:
        if keyword in unit_name:
            return kind
    return "college"


def _majors_for(unit_name: str) -> tuple[str, ...]:
    for keyword, majors in MAJORS:
        if keyword in unit_name:
            return majors
    return ("计算机科学与技术", "机械工程", "管理科学与工程", "汉语言文学", "数学")


@dataclass
class _Study:
    level: str
    school: str
    major: str | None
    start: date
    end: date


class MemberGenerator:
    """A deterministic stream of plausible members.

    ``sub_union_ids``: where members go (the retirees' sub-union, if listed, only gets
    retirees). ``retirees_sub_union_id``: where retirees go; without it they stay in the
    ordinary sub-unions. ``names`` (id → sub-union name) makes departments and majors fit the
    unit. ``start`` is the first staff-number serial; ``taken_member_nos`` and
    ``taken_id_numbers`` are numbers already in use, never to be issued again.
    """

    def __init__(
        self,
        sub_union_ids: Sequence[int],
        *,
        retirees_sub_union_id: int | None = None,
        seed: int = 0,
        start: int = 1,
        names: Mapping[int, str] | None = None,
        today: date | None = None,
        taken_member_nos: set[str] | None = None,
        taken_id_numbers: set[str] | None = None,
    ):
        if not sub_union_ids and retirees_sub_union_id is None:
            raise ValueError("no sub-union to put members in")
        self.rng = random.Random(seed)
        self.today = today or local_today()
        self.serial = start
        self.retirees_sub_union_id = retirees_sub_union_id
        ordinary = [i for i in sub_union_ids if i != retirees_sub_union_id]
        self.ordinary = ordinary or list(sub_union_ids) or [retirees_sub_union_id]
        names = dict(names or {})
        self.units: dict[int, str] = {}
        for n, sid in enumerate(self.ordinary):
            name = names.get(sid) or DEFAULT_UNITS[n % len(DEFAULT_UNITS)]
            self.units[sid] = name.removesuffix("分工会") or name
        self.former_units = [u for u in self.units.values() if unit_kind(u) != "retirees"] or list(DEFAULT_UNITS)
        self.id_numbers: set[str] = set(taken_id_numbers or ())
        self.member_seq: dict[int, int] = {}
        for no in taken_member_nos or ():
            if len(no) == 9 and no.isdigit():
                year, seq = int(no[:4]), int(no[4:])
                self.member_seq[year] = max(self.member_seq.get(year, 0), seq)

    # -- the public face -----------------------------------------------------------------

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            yield self.member()

    def many(self, count: int) -> list[dict[str, Any]]:
        return [self.member() for _ in range(count)]

    def member(self, **fixed: Any) -> dict[str, Any]:
        """One member's values. ``fixed`` pins some choices: name, gender, birth_date (date),
        employment_status, sub_union (id), post_category, school_join_date (date)."""
        rng = self.rng
        today = self.today
        status = fixed.get("employment_status") or _pick(rng, ((ACTIVE, 78), (RETIRED, 20), (LEFT, 2)))
        gender = fixed.get("gender") or ("男" if rng.random() < 0.52 else "女")
        male = gender == "男"
        if "birth_date" in fixed:
            born = fixed["birth_date"]
        else:
            born = self._birth_date(status)
        age = _age(born, today)

        # where they work (or worked)
        if "sub_union" in fixed:
            sub_union = fixed["sub_union"]
        elif status == RETIRED and self.retirees_sub_union_id is not None:
            sub_union = self.retirees_sub_union_id
        else:
            sub_union = _choice(rng, self.ordinary)
        unit = self.units.get(sub_union) or _choice(rng, self.former_units)
        if unit_kind(unit) == "retirees":
            unit = _choice(rng, self.former_units)
        kind = unit_kind(unit)
        post = fixed.get("post_category") or _pick(rng, POST_MIX[kind])
        department = _choice(rng, OFFICE_DEPARTMENTS) if kind == "office" else unit

        # when working life ends (for the dates that must come before it)
        if status == RETIRED:
            end_of_work = min(_years_after(born, 60 if male or post == "专任教师" else 55), today)
        elif status == LEFT:
            end_of_work = today - timedelta(days=_randint(rng, 30, 365 * 4))
        else:
            end_of_work = today

        studies = self._studies(born, post, unit, end_of_work)
        education = studies[-1].level if studies else "初中及以下"
        last = studies[-1] if studies else None
        degree = {"博士研究生": "博士", "硕士研究生": "硕士"}.get(education, "无")
        if education == "大学本科":
            degree = "学士" if rng.random() < 0.93 else "无"
        work_start = (last.end if last else _years_after(born, 17)) + timedelta(days=_randint(rng, 0, 60))
        work_start = min(work_start, end_of_work)
        if "school_join_date" in fixed:
            school_join = max(fixed["school_join_date"], work_start)
        elif rng.random() < 0.6:
            school_join = work_start
        else:
            latest = min(end_of_work - timedelta(days=365 * 5 if status == RETIRED else 30), today)
            span = (latest - work_start).days
            school_join = work_start + timedelta(days=_randint(rng, 0, max(0, min(span, 365 * 15))))
        union_join = min(school_join + timedelta(days=_randint(rng, 7, 150)), end_of_work)

        level, title, position = self._title(post, kind, education, work_start, end_of_work, male)
        name = fixed.get("name") or self._name(male, born)
        region = self._region(born)
        id_number = self._id_number(region.code, born, male)
        ethnicity = self._ethnicity(region)
        political = self._political(age, post)
        marital, spouse_name, spouse_employer, children = self._family(name, male, born, age, status)
        member_no = self._member_no(union_join.year)
        staff_no = f"{school_join.year % 100:02d}{self.serial:06d}"
        self.serial += 1

        employment_type = self._employment_type(post, status, age, male)
        model_worker = _pick(rng, (("无", 920), ("校级先进个人", 60), ("市级劳动模范", 10),
                                   ("省部级先进工作者", 6), ("省部级劳动模范", 3), ("全国劳动模范", 1)))
        honors = self._honors(school_join, end_of_work, post, political, male, model_worker)
        values: dict[str, Any] = {
            "name": name,
            "gender": gender,
            "ethnicity": ethnicity,
            "birth_date": born.isoformat(),
            "id_type": "居民身份证",
            "id_number": id_number,
            "native_place": region.native_place if rng.random() < 0.85 else _choice(rng, FAR_NATIVE),
            "household_registration": (_choice(rng, LOCAL_REGISTRATION) if rng.random() < 0.8
                                       else region.registration),
            "political_status": political,
            "photo": None,
            "mobile": _choice(rng, MOBILE_PREFIXES) + f"{int(rng.random() * 10**8):08d}",
            "office_phone": (f"{LOCAL_AREA_CODE}-{_choice(rng, '78')}{int(rng.random() * 10**6):06d}"
                             if status == ACTIVE and rng.random() < 0.8 else None),
            "email": self._email(name, status),
            "home_address": self._address(),
            "education": education,
            "degree": degree,
            "graduate_school": last.school if last else _choice(rng, HIGH_SCHOOLS),
            "major": last.major if last else None,
            "staff_no": staff_no,
            "department": department,
            "sub_union": sub_union,
            "position": position,
            "title": title,
            "title_level": level,
            "post_category": post,
            "employment_type": employment_type,
            "work_start_date": work_start.isoformat(),
            "school_join_date": school_join.isoformat(),
            "employment_status": status,
            "member_no": member_no,
            "union_join_date": union_join.isoformat(),
            "membership_status": {RETIRED: "保留会籍", LEFT: "转出"}.get(status, "正常"),
            "union_posts": self._union_posts(status, male),
            "is_congress_delegate": "是" if status == ACTIVE and rng.random() < (
                0.18 if level == "正高" else 0.06) else "否",
            "model_worker": model_worker,
            "hardship_level": _pick(rng, (("无", 970), ("一般困难", 20), ("深度困难", 5), ("意外致困", 5))),
            "honors": honors,
            "marital_status": marital,
            "spouse_name": spouse_name,
            "spouse_employer": spouse_employer,
            "children": children,
            "resume": self._resume(studies, work_start, school_join, end_of_work, department, status, title),
            "hobbies": "、".join(rng.sample(HOBBIES, _choice(rng, (1, 1, 2, 2, 2, 3)))),
            "remarks": self._remarks(status, end_of_work, employment_type),
        }
        return values

    # -- the parts -----------------------------------------------------------------------

    def _birth_date(self, status: str) -> date:
        rng = self.rng
        if status == RETIRED:
            age = int(rng.triangular(60, 86, 63))
        elif status == LEFT:
            age = _randint(rng, 25, 50)
        else:
            age = 0
            while not 22 <= age <= 65:
                age = int(rng.gauss(41, 9.5))
        age = min(age, 85)
        newest = _years_after(self.today, -age)  # turns `age` today
        oldest = _years_after(self.today, -age - 1) + timedelta(days=1)
        return date.fromordinal(_randint(rng, oldest.toordinal(), newest.toordinal()))

    def _name(self, male: bool, born: date) -> str:
        rng = self.rng
        surname = _SURNAME_LIST[bisect.bisect_right(_SURNAME_CUM, rng.random() * _SURNAME_CUM[-1])]
        return surname + self._given(male, born.year, compound=len(surname) > 1)

    def _given(self, male: bool, year: int, compound: bool = False) -> str:
        rng = self.rng
        if year < 1966 and rng.random() < 0.35:
            return _choice(rng, ERA_MALE if male else ERA_FEMALE)
        pool = GIVEN_MALE if male else GIVEN_FEMALE
        if compound or rng.random() < 0.3:
            return _choice(rng, pool)
        first = _choice(rng, pool)
        second = _choice(rng, pool)
        while second == first and rng.random() < 0.8:
            second = _choice(rng, pool)
        return first + second

    def _region(self, born: date) -> Region:
        pool, cum = _regions_for(born.year)
        return pool[bisect.bisect_right(cum, self.rng.random() * cum[-1])]

    def _id_number(self, region_code: str, born: date, male: bool) -> str:
        while True:
            order = int(self.rng.random() * 500) * 2 + (1 if male else 0)
            number = make_id_number(region_code, born, order)
            if number not in self.id_numbers:
                self.id_numbers.add(number)
                return number

    def _member_no(self, year: int) -> str:
        seq = self.member_seq.get(year, 0) + 1
        if seq > 99999:
            raise ValueError(f"{year} 年的会员证号已用尽")
        self.member_seq[year] = seq
        return f"{year}{seq:05d}"

    def _ethnicity(self, region: Region) -> str:
        rng = self.rng
        if "满族" in region.registration and rng.random() < 0.6:
            return "满族"
        return "汉族" if rng.random() < 0.93 else _pick(rng, MINORITIES)

    def _political(self, age: int, post: str) -> str:
        rng = self.rng
        if age < 28 and rng.random() < 0.45:
            return "共青团员" if rng.random() < 0.8 else "中共预备党员"
        party = {"专任教师": 0.5, "管理": 0.7, "其他专技": 0.4, "工勤": 0.25}[post]
        r = rng.random()
        if r < party:
            return "中共党员"
        if r < party + (0.07 if post == "专任教师" else 0.03):
            return _choice(rng, PARTIES)
        if r < party + 0.09:
            return "无党派人士"
        return "群众"

    def _studies(self, born: date, post: str, unit: str, end_of_work: date) -> list[_Study]:
        """The schooling behind the highest education, finished before work could start."""
        rng = self.rng
        wanted = _pick(rng, EDU_MIX[post])
        if wanted == "博士研究生" and born.year < 1960 and rng.random() < 0.7:
            wanted = "硕士研究生"  # doctorates were rare for that generation
        latest_end = min(end_of_work, self.today) - timedelta(days=30)
        majors = _majors_for(unit)
        for level in EDU_ORDER[EDU_ORDER.index(wanted):]:
            studies = self._path(born, level, post, majors)
            if not studies or studies[-1].end <= latest_end:
                return studies
        return []

    def _path(self, born: date, level: str, post: str, majors: tuple[str, ...]) -> list[_Study]:
        rng = self.rng
        # School years count from the September after the sixth birthday (born after August:
        # a year later), so a university starts at first_year + 18.
        first_year = born.year + (1 if born.month >= 9 else 0)

        def term(start_year: int, years: int, school: str, major: str | None, lvl: str) -> _Study:
            return _Study(lvl, school, major, date(start_year, 9, 1), date(start_year + years, 7, 1))

        worker = post == "工勤"
        major = _choice(rng, TRADE_MAJORS if worker else majors)
        if level == "初中及以下":
            return []
        if level == "高中":
            return [term(first_year + 15, 3, _choice(rng, HIGH_SCHOOLS), None, "高中")]
        if level == "中等专科":
            return [term(first_year + 15, 3, _choice(rng, SECONDARY), _choice(rng, TRADE_MAJORS), "中等专科")]
        start = first_year + 18 + (1 if rng.random() < 0.15 else 0)
        if level == "大学专科":
            return [term(start, 3, _choice(rng, COLLEGES), _choice(rng, TRADE_MAJORS) if worker else major, "大学专科")]
        years = 5 if major in ("临床医学", "医学影像学") else 4
        out = [term(start, years, _choice(rng, LOCAL_UNIVERSITIES if worker else UNIVERSITIES), major, "大学本科")]
        if level == "大学本科":
            return out
        gap = 0 if rng.random() < 0.75 else _randint(rng, 1, 3)
        start = out[-1].end.year + gap
        out.append(term(start, _choice(rng, (2, 3, 3)), _choice(rng, UNIVERSITIES), major, "硕士研究生"))
        if level == "硕士研究生":
            return out
        gap = 0 if rng.random() < 0.7 else _randint(rng, 1, 4)
        start = out[-1].end.year + gap
        out.append(term(start, _choice(rng, (3, 4, 4)), _choice(rng, TOP_SCHOOLS), major, "博士研究生"))
        return out

    def _title(self, post: str, kind: str, education: str, work_start: date, end_of_work: date,
               male: bool) -> tuple[str, str, str | None]:
        """(title_level, title, position): seniority grows with years at work and study, and
        each step needs some years of its own (no 副高 two years after graduating)."""
        rng = self.rng
        years = max(0.0, (end_of_work - work_start).days / 365.25)
        bonus = {"博士研究生": 5, "硕士研究生": 2, "大学本科": 0}.get(education, -3)
        score = years + bonus + rng.gauss(0, 4)
        if post == "工勤":
            idx = 4 if score < 3 else 3 if score < 9 else 2 if score < 18 else 1 if score < 28 else 0
            idx = max(idx, 4 - int(years / 4), WORKER_LEVELS.index(_pick(rng, WORKER_CEILING)))  # four years a grade
            level = WORKER_LEVELS[idx]
            position = "班组长" if rng.random() < 0.08 else None
            return level, level, position
        if post == "管理" and rng.random() < 0.5:
            level, series = "无", None
        else:
            idx = 3 if score < 3 else 2 if score < 11 else 1 if score < 21 else 0
            # 中级 at once for a doctor, otherwise after two years; 副高 after five, 正高 after ten
            floor = 3 if years < (0 if education == "博士研究生" else 2) else 2 if years < 5 else 1 if years < 10 else 0
            ceiling = PRO_LEVELS.index(_pick(rng, PRO_CEILING.get(education, PRO_CEILING["其他"])))
            level = PRO_LEVELS[max(idx, floor, ceiling)]
            series = self._series(post, kind, male)
            if series == "school" and level == "正高" and rng.random() < 0.85:
                level = "副高"  # 正高级教师 are rare in a school
        title = TITLE_SERIES[series][PRO_LEVELS.index(level)] if series else "无"
        position: str | None = None
        if post == "管理":
            grade = min(len(ADMIN_POSTS) - 1, max(0, int(score / 5)))
            position = _choice(rng, COLLEGE_ADMIN_POSTS) if kind == "college" else ADMIN_POSTS[grade]
        elif post == "专任教师" and level in ("正高", "副高") and rng.random() < 0.25:
            position = _pick(rng, TEACHER_POSTS)
        elif post == "其他专技" and level in ("正高", "副高") and rng.random() < 0.15:
            position = "科室主任" if kind == "hospital" else "部门负责人"
        return level, title, position

    def _series(self, post: str, kind: str, male: bool) -> str:
        if post == "专任教师":
            return "school" if kind == "school" else "teacher"
        if post == "管理":
            return "research"
        if kind == "library":
            return "library"
        if kind == "hospital":
            return "doctor" if male or self.rng.random() < 0.4 else "nurse"
        if kind == "office":
            return "accountant" if self.rng.random() < 0.4 else "engineer"
        if kind in ("it", "logistics"):
            return "engineer"
        return "lab"

    def _employment_type(self, post: str, status: str, age: int, male: bool) -> str:
        rng = self.rng
        if status == ACTIVE and (age >= 60 or (not male and age >= 56)) and rng.random() < 0.7:
            return "返聘"
        if post == "工勤":
            return _pick(rng, (("事业编制", 35), ("合同制", 40), ("劳务派遣", 25)))
        if status == RETIRED:
            return "事业编制"
        return _pick(rng, (("事业编制", 74), ("人事代理", 16), ("合同制", 8), ("劳务派遣", 2)))

    def _family(self, name: str, male: bool, born: date, age: int,
                status: str) -> tuple[str, str | None, str | None, list[dict[str, str]]]:
        rng = self.rng
        if age < 26:
            marital = "已婚" if rng.random() < 0.2 else "未婚"
        elif age < 31:
            marital = "已婚" if rng.random() < 0.6 else "未婚"
        else:
            widowed = 0.02 if age < 60 else 0.08 if age < 75 else 0.22
            marital = _pick(rng, (("已婚", int((0.9 - widowed) * 1000)), ("离异", 50), ("未婚", 50),
                                  ("丧偶", int(widowed * 1000))))
        spouse_name = spouse_employer = None
        spouse_surname = _SURNAME_LIST[bisect.bisect_right(_SURNAME_CUM, rng.random() * _SURNAME_CUM[-1])]
        if marital == "已婚":
            spouse_born_year = born.year + _randint(rng, -3, 3)
            spouse_name = spouse_surname + self._given(not male, spouse_born_year, len(spouse_surname) > 1)
            if status == RETIRED or age >= 62:
                spouse_employer = "已退休" if rng.random() < 0.8 else _choice(rng, SPOUSE_EMPLOYERS)
            else:
                spouse_employer = _choice(rng, SPOUSE_EMPLOYERS)
        children: list[dict[str, str]] = []
        if marital != "未婚":
            if age < 27:
                count = _pick(rng, (("0", 80), ("1", 20)))
            elif age < 36:
                count = _pick(rng, (("0", 35), ("1", 48), ("2", 16), ("3", 1)))
            elif age < 50:
                count = _pick(rng, (("0", 8), ("1", 58), ("2", 31), ("3", 3)))
            else:
                count = _pick(rng, (("0", 5), ("1", 70), ("2", 22), ("3", 3)))
            own_surname = name[:2] if name[:2] in _COMPOUND_SURNAMES else name[:1]
            family = own_surname if male else spouse_surname
            newest = _years_after(born, 45 if male else 42)
            cursor = _years_after(born, _randint(rng, 23, 33))
            for _ in range(int(count)):
                day = cursor + timedelta(days=_randint(rng, 0, 364))
                if day >= self.today or day > newest:
                    break
                child_male = rng.random() < 0.51
                children.append({
                    "name": family + self._given(child_male, day.year, len(family) > 1),
                    "gender": "男" if child_male else "女",
                    "birth_date": day.isoformat(),
                })
                cursor = _years_after(day, _randint(rng, 2, 6))
        return marital, spouse_name, spouse_employer, children

    def _email(self, name: str, status: str) -> str | None:
        rng = self.rng
        if status != ACTIVE and rng.random() < 0.5:
            return None
        r = rng.random()
        if r < 0.55:
            return f"{''.join(_full_pinyin(name))}{self.serial % 1000:03d}@{EMAIL_DOMAIN}"
        if r < 0.8:
            return f"{_randint(rng, 10**7, 10**10)}@qq.com"
        letters = "".join(p[0] for p in _full_pinyin(name[:-1])) + _full_pinyin(name)[-1]
        return f"{letters}{_randint(rng, 60, 2024)}@{_choice(rng, MAIL_HOSTS)}"

    def _address(self) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            return (f"河北省秦皇岛市{_choice(rng, DISTRICTS)}{_choice(rng, COMPOUNDS)}{_randint(rng, 1, 30)}号楼"
                    f"{_randint(rng, 1, 6)}单元{_randint(rng, 1, 28)}{_randint(rng, 1, 4):02d}室")
        return (f"河北省秦皇岛市{_choice(rng, DISTRICTS)}{_choice(rng, ROADS)}{_randint(rng, 1, 600)}号"
                f"{_randint(rng, 1, 20)}栋{_randint(rng, 1, 6)}单元{_randint(rng, 1, 18)}0{_randint(rng, 1, 4)}")

    def _union_posts(self, status: str, male: bool) -> list[str]:
        rng = self.rng
        if status != ACTIVE or rng.random() > 0.06:
            return []
        post = _pick(rng, (("工会小组长", 40), ("会员代表", 30), ("分工会委员", 18), ("女工委员", 4),
                           ("分工会副主席", 4), ("分工会主席", 2), ("工会委员", 1), ("经审委员", 1)))
        if male and post == "女工委员":
            post = "分工会委员"
        if post != "会员代表" and rng.random() < 0.3:
            return [post, "会员代表"]
        return [post]

    def _honors(self, school_join: date, end_of_work: date, post: str, political: str, male: bool,
                model_worker: str) -> str | None:
        rng = self.rng
        # 年度 honours are awarded for years that are over
        years = list(range(school_join.year + 1, min(end_of_work.year, self.today.year - 1) + 1))
        wanted = 0 if rng.random() > 0.2 else _randint(rng, 1, 3)
        wanted = min(wanted, len(years))
        if model_worker != "无":
            wanted = max(wanted, 1) if years else 0
        choices = ["{y}年度校级先进工作者", "{y}年度优秀工会积极分子", "{y}年度校级优秀工会会员"]
        if post == "专任教师":
            choices += ["{y}年度校级优秀教师", "{y}年校级教学名师", "{y}年河北省教学成果奖二等奖",
                        "{y}年度校级师德标兵", "{y}年度河北省优秀教师", "{y}年校级青年教师讲课比赛一等奖"]
        if political == "中共党员":
            choices.append("{y}年度校级优秀共产党员")
        if not male:
            choices.append("{y}年度秦皇岛市三八红旗手")
        picked = sorted(rng.sample(years, wanted)) if wanted else []
        out = [_choice(rng, choices).format(y=y) for y in picked]
        if model_worker != "无" and picked:
            out[-1] = f"{picked[-1]}年{model_worker}"
        return "；".join(out) or None

    def _resume(self, studies: list[_Study], work_start: date, school_join: date, end_of_work: date,
                department: str, status: str, title: str) -> str:
        lines = [f"{_ym(s.start)}—{_ym(s.end)} {s.school}{f' {s.major}专业' if s.major else ''} {s.level}"
                 for s in studies]
        if school_join > work_start:
            lines.append(f"{_ym(work_start)}—{_ym(school_join)} {_choice(self.rng, SPOUSE_EMPLOYERS[1:16])} 工作")
        role = title if title not in ("无",) else "工作人员"
        until = "至今" if status == ACTIVE else f"{_ym(end_of_work)}"
        lines.append(f"{_ym(school_join)}—{until} 本校{department} {role}")
        if status == RETIRED:
            lines.append(f"{_ym(end_of_work)} 退休")
        elif status == LEFT:
            lines.append(f"{_ym(end_of_work)} 调离")
        return "\n".join(lines)

    def _remarks(self, status: str, end_of_work: date, employment_type: str) -> str | None:
        if status == LEFT:
            return f"{end_of_work.year}年{end_of_work.month}月调离本校，会员关系转出"
        if employment_type == "返聘":
            return "退休返聘"
        return None


def _ym(d: date) -> str:
    return f"{d.year}.{d.month:02d}"


@lru_cache(maxsize=4096)
def _char_pinyin(char: str) -> str:
    return re.sub(r"[^a-z]", "", lazy_pinyin(char)[0].lower()) or "x"


def _full_pinyin(name: str) -> list[str]:
    """Pinyin syllables, a character at a time (for e-mail addresses, where a reading that
    differs from the name's true one does no harm)."""
    return [_char_pinyin(c) for c in name]


_initials = lru_cache(maxsize=65536)(pinyin.initials)


# ---- rows and bulk insertion ----------------------------------------------------------------

_DATE_CODES = tuple(f.code for f in cat.CATALOGUE if f.type == cat.DATE)
_COLUMN_OF = {f.code: f.attr for f in cat.CATALOGUE}


def to_row(values: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Generated values in column form for ``insert(Member.__table__)``: dates as dates, lists
    as lists, the sub-union as ``sub_union_id``, plus the derived and bookkeeping columns."""
    now = now or utcnow()
    row = {_COLUMN_OF[code]: value for code, value in values.items()}
    for code in _DATE_CODES:
        value = row.get(code)
        if isinstance(value, str):
            row[code] = date.fromisoformat(value)
    children = row.get("children") or []
    row["children"] = children
    row["union_posts"] = row.get("union_posts") or []
    row["name_initials"] = _initials(row["name"])
    row["children_count"] = len(children)
    row["version"] = 1
    row["created_at"] = row["updated_at"] = now
    return row


def taken_numbers(conn: Session | Connection) -> tuple[int, set[str], set[str]]:
    """(next staff-number serial, member numbers in use, ID numbers in use)."""
    serial = 0
    member_nos: set[str] = set()
    id_numbers: set[str] = set()
    stmt = select(Member.__table__.c.staff_no, Member.__table__.c.member_no, Member.__table__.c.id_number)
    for staff_no, member_no, id_number in conn.execute(stmt):
        if staff_no and len(staff_no) == 8 and staff_no.isdigit():
            serial = max(serial, int(staff_no[2:]))
        if member_no:
            member_nos.add(member_no)
        if id_number:
            id_numbers.add(id_number.upper())
    return serial + 1, member_nos, id_numbers


def generator_for(
    conn: Session | Connection,
    sub_union_ids: Sequence[int],
    retirees_sub_union_id: int | None = None,
    *,
    start: int | None = None,
    seed: int | None = None,
    today: date | None = None,
) -> MemberGenerator:
    """A generator that knows the database: sub-union names, and the numbers already in use."""
    ids = list(dict.fromkeys([*sub_union_ids, *([retirees_sub_union_id] if retirees_sub_union_id else [])]))
    names = dict(conn.execute(select(SubUnion.id, SubUnion.name).where(SubUnion.id.in_(ids))).all())
    next_serial, member_nos, id_numbers = taken_numbers(conn)
    start = max(start or 0, next_serial)
    return MemberGenerator(
        sub_union_ids, retirees_sub_union_id=retirees_sub_union_id,
        seed=start if seed is None else seed, start=start, names=names, today=today,
        taken_member_nos=member_nos, taken_id_numbers=id_numbers,
    )


def insert_members(
    target: Session | Engine | Connection,
    count: int,
    sub_union_ids: Sequence[int],
    retirees_sub_union_id: int | None = None,
    *,
    start: int | None = None,
    seed: int | None = None,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Insert ``count`` generated members with Core executemany, ``batch_size`` rows a time.

    A Session or Connection inserts in its own transaction (the caller commits); an Engine
    gets one transaction of its own. Staff-number serials start after the largest in use (or
    at ``start`` if that is larger); member and ID numbers already in use are skipped.
    Returns the number inserted.
    """
    if isinstance(target, Engine):
        with target.begin() as conn:
            return insert_members(conn, count, sub_union_ids, retirees_sub_union_id,
                                  start=start, seed=seed, batch_size=batch_size)
    gen = generator_for(target, sub_union_ids, retirees_sub_union_id, start=start, seed=seed)
    stmt = insert(Member.__table__)
    now = utcnow()
    sizes = [min(batch_size, count - done) for done in range(0, count, batch_size)]

    def make(n: int) -> list[dict[str, Any]]:
        return [to_row(gen.member(), now) for _ in range(n)]

    # One helper thread generates the next batch while the database takes this one (the
    # generator is only ever used by that thread, one batch after another: still deterministic).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="member-generator") as pool:
        pending = pool.submit(make, sizes[0]) if sizes else None
        for k in range(len(sizes)):
            rows = pending.result()
            pending = pool.submit(make, sizes[k + 1]) if k + 1 < len(sizes) else None
            target.execute(stmt, rows)
    return sum(sizes)
